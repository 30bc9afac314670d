r"""Active learning on a frozen encoder's features (jaxssl/active/): each strategy and seed is one resumable loop
in ROOT/<name>_<strategy>_seed<k>/ (jaxssl/active/loop.py says what it writes). The pool (every training
example) and the test split are embedded once for all the loops; round 0 labels --initial_budget rows by a
cold-start rule, then each round fits the linear probe on the labelled rows, scores or covers the pool and
labels its budget more; the probe's test top-1 is recorded after every round. Run again, the same command
goes on from the first round not recorded.

  python launch/active_learning.py --encoder=runs/quickstart_simclr --dataset=fashion_mnist \
      --strategies=random,margin,typiclust,probcover --seeds=0,1,2 --initial_budget=10 \
      --round_budgets=10,20,40,80 --root=results/active_learning --name=simclr
  # the table and the accuracy-vs-labels figure of the loops kept under --root
  python launch/active_learning.py --table --root=results/active_learning \
      --figure=docs/figures/active_learning_fashion_mnist.png
  # the semi-supervised runs the final labels start (FixMatch by default), printed, not run
  python launch/active_learning.py --print --dataset=fashion_mnist --strategies=typiclust,random \
      --seeds=0 --initial_budget=10 --round_budgets=10 --root=results/active_learning --name=simclr

--initial picks round 0's rule (random, typiclust or probcover): by default a strategy that can start from no
label starts itself, the others start from random rows. Refusals (a budget larger than the pool, an encoder of
another dataset, a loop directory holding other settings...) print one `error: ...` line before anything is
computed or written.
"""

import argparse
import os
import shlex
import sys

from jaxssl import experiment as experiment_lib
from jaxssl.active import loop as loop_lib
from jaxssl.active import pool as pool_lib
from jaxssl.active.strategies import COLD_START, STRATEGIES
from jaxssl.cli.refusals import refusals_in_one_line
from jaxssl.report import active_learning as report


def int_list(text: str) -> tuple[int, ...]:
    """'10,20,40' -> (10, 20, 40); argparse's error for anything else."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None


def names(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", help="Run directory of the frozen encoder (its newest checkpoint).")
    p.add_argument("--dataset", help="The pool's dataset; the encoder must have been trained on it.")
    p.add_argument(
        "--strategies", type=names, default=("random",), help=f"Comma-separated, of {sorted(STRATEGIES)}."
    )
    p.add_argument("--initial", choices=COLD_START, help="Round 0's rule (default: see above).")
    p.add_argument("--seeds", type=int_list, default=(0,), help="One loop per seed and strategy.")
    p.add_argument("--initial_budget", type=int, default=10, help="Rows labelled in round 0.")
    p.add_argument("--round_budgets", type=int_list, default=(10,), help="Rows added by each later round.")
    p.add_argument("--committee", type=int, default=5, help="vote_entropy's bagged probes.")
    p.add_argument("--k_neighbours", type=int, default=20, help="TypiClust's K for typicality.")
    p.add_argument("--purity", type=float, default=0.95, help="ProbCover's alpha for delta.")
    p.add_argument("--root", default="results/active_learning", help="Where the loops' directories go.")
    p.add_argument("--name", help="The encoder's name in the loops' directories (default: its basename).")
    p.add_argument(
        "--manual_dir", default="", help="The dataset's files, if not where the encoder's config says."
    )
    p.add_argument("--data_dir", default="", help="TFDS's data_dir, if not the encoder config's.")
    p.add_argument(
        "--semisup_config",
        help="With --print: the semi-supervised config (default configs/fixmatch.py:dataset=DATASET).",
    )
    p.add_argument(
        "--print", dest="print_only", action="store_true", help="Print the semi-supervised commands."
    )
    p.add_argument(
        "--table", action="store_true", help="Print the table of the loops under --root; run nothing."
    )
    p.add_argument(
        "--figure", default="", help="With --table: also draw accuracy against labels into this PNG."
    )
    p.add_argument("--title", default="", help="The figure's title (default: the dataset).")
    return p


def loop_settings(args) -> list[loop_lib.Settings]:
    """One Settings per (strategy, seed), checked (loop.check_settings)."""
    planned = []
    for strategy in args.strategies:
        initial = args.initial or (strategy if strategy in COLD_START else "random")
        for seed in args.seeds:
            settings = loop_lib.Settings(
                strategy=strategy,
                initial=initial,
                initial_budget=args.initial_budget,
                round_budgets=tuple(args.round_budgets),
                seed=seed,
                committee=args.committee,
                k_neighbours=args.k_neighbours,
                purity=args.purity,
            )
            loop_lib.check_settings(settings)
            planned.append(settings)
    return planned


def loop_dir(args, settings: loop_lib.Settings) -> str:
    """ROOT/<name>_<strategy>_seed<k>, with _from_<rule> when round 0's rule is not the default one."""
    if not (args.name or args.encoder):
        raise ValueError("--name or --encoder is required: it names the loops' directories")
    name = args.name or os.path.basename(os.path.normpath(args.encoder))
    default = settings.strategy if settings.strategy in COLD_START else "random"
    start = "" if settings.initial == default else f"_from_{settings.initial}"
    return os.path.join(args.root, f"{name}_{settings.strategy}{start}_seed{settings.seed}")


def semisup_commands(args, planned) -> list[str]:
    """The jaxssl.main command each loop's final labels start (from the encoder's weights, where named), trained
    with the loop's seed: a strategy's runs and random's pair seed for seed."""
    config = args.semisup_config or f"configs/fixmatch.py:dataset={args.dataset}"
    method = os.path.splitext(os.path.basename(config.partition(":")[0]))[0]
    total = sum(planned[0].budgets)
    commands = []
    for settings in planned:
        directory = loop_dir(args, settings)
        words = [
            "python",
            "-m",
            "jaxssl.main",
            f"--config={config}",
            "--config.semisup.labels_per_class=0",
            "--config.semisup.label_fraction=0",
            f"--config.semisup.labelled_indices={loop_lib.indices_path(directory, total)}",
            f"--config.seed={settings.seed}",
            *([f"--config.init.workdir={args.encoder}"] if args.encoder else []),
            f"--workdir=runs/{method}_{os.path.basename(directory)}",
        ]
        commands.append(shlex.join(words))
    return commands


def run(args) -> None:
    """Every check (settings, encoder, loop directories) first, then one embedding, then each loop."""
    planned = loop_settings(args)
    config = pool_lib.encoder_config(
        args.encoder, args.dataset, {"manual_dir": args.manual_dir, "data_dir": args.data_dir}
    )
    facts = pool_lib.encoder_facts(args.encoder, config)
    exp = experiment_lib.prepare(config)
    for settings in planned:
        loop_lib.check_settings(settings, len(exp.train_source.labels))
        record = loop_lib.loop_record(
            settings, facts, len(exp.train_source.labels), len(exp.eval_source.labels)
        )
        loop_lib.check_loop_dir(loop_dir(args, settings), record)
    pool = pool_lib.embed_pool(exp, args.encoder, config, facts)
    for settings in planned:
        directory = loop_dir(args, settings)
        rounds = loop_lib.run_loop(pool, settings, directory)
        curve = ", ".join(f"{r['labelled']}: {100 * r['test_top1']:.2f} %" for r in rounds)
        print(f"{directory}: {curve}", flush=True)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    with refusals_in_one_line():
        if args.table:  # runs no jaxssl.main command: nothing to --print
            if not args.print_only:
                print(report.report(args.root, figure=args.figure, title=args.title), end="")
            return 0
        if not args.dataset:
            raise ValueError("--dataset is required: the pool's dataset")
        if args.print_only:
            print("\n".join(semisup_commands(args, loop_settings(args))))
            return 0
        if not args.encoder:
            raise ValueError("--encoder is required: the run directory of the frozen encoder")
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
