r"""A sweep: base configs x a grid of --config overrides x seeds, each pretrained and then evaluated by the
protocols asked for, then the report table of the whole sweep. No hyperparameters inside.

  python launch/sweep.py --root=runs/lr_sweep --config=configs/quickstart.py:method=simclr \
      --grid=optim.base_lr=0.2,0.4,0.8 --seeds=0,1,2 --eval="knn,linear_lbfgs,health"

  # the semi-supervised table: pretraining + linear probe + fine-tuning at 1 %, 10 %, 100 % of the labels
  python launch/sweep.py --root=runs/semisup --config=configs/quickstart.py:method=simclr \
      --config=configs/quickstart.py:method=byol --seeds=0,1,2 --eval="knn,linear_lbfgs,health,finetune" \
      --eval="linear_lbfgs,finetune fraction=0.1 finetune.epochs=30" \
      --eval="linear_lbfgs,finetune fraction=0.01 finetune.epochs=60"
  # its supervised baseline: no pretraining, fine-tuning from a random initialisation (with SGD: add
  # --grid=finetune.optimizer=sgd, which also names the run directories apart)
  python launch/sweep.py --root=runs/semisup --config=configs/quickstart.py:method=simclr --seeds=0,1,2 \
      --no_pretrain --eval_init=random --eval="finetune" --eval="finetune fraction=0.1 finetune.epochs=30" \
      --eval="finetune fraction=0.01 finetune.epochs=60"

--eval takes "PROTOCOLS [fraction=F] [key=value ...]": comma-separated protocols of
`python -m jaxssl.main --mode=evaluate`, the label fraction, and --config overrides for that evaluation
only. Flags after -- go to every command, with {seed} replaced by the run's seed (a semi-supervised run from the
pretraining of its own seed: -- --config.init.workdir=runs/semisup/quickstart-method-simclr_seed{seed}).
Run directories are ROOT/<config>-<options>[_<key>-<value>...][_init-random]_seed<s>. Runs go one after
another on the local host, or --print writes the commands, one per line, for a cluster's job array. A
finished pretraining is a no-op when run again; an evaluation runs only the protocols whose fraction and
initialisation its run's offline_eval.jsonl does not hold yet; a linear_sgd or finetune record of another
recipe stops the sweep before anything runs, rather than leave two recipes in one run. Then
`python -m jaxssl.report ROOT/*` writes ROOT/report.md and ROOT/curves.png.
"""

import argparse
import itertools
import os
import shlex
import subprocess
import sys

from absl import flags
from ml_collections import config_flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # the configs import `configs.common`, as they do under `python -m jaxssl.main`

from jaxssl.probes.finetune import Recipe  # noqa: E402
from jaxssl.rundir import files, jsonl  # noqa: E402

RECIPE_PROTOCOLS = ("linear_sgd", "finetune")


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """['optim.base_lr=0.2,0.4'] -> [('optim.base_lr', ['0.2', '0.4'])]."""
    grid = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise SystemExit(f"--grid takes KEY=V1,V2,..., got {item!r}")
        grid.append((key, values.split(",")))
    return grid


def parse_eval(spec: str) -> dict:
    """'finetune,linear_lbfgs fraction=0.01 finetune.epochs=60' -> protocols, fraction, overrides."""
    tokens = spec.split()
    if not tokens or "=" in tokens[0]:
        raise SystemExit(f"--eval starts with comma-separated protocols, got {spec!r}")
    fraction, overrides = "1.0", []
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep:
            raise SystemExit(f"--eval takes KEY=VALUE after the protocols, got {token!r} in {spec!r}")
        if key == "fraction":
            fraction = value
        else:
            overrides.append(f"--config.{key}={value}")
    return {"protocols": tokens[0].split(","), "fraction": float(fraction), "overrides": overrides}


def run_name(config: str, point: tuple, seed: int, init: str) -> str:
    path, _, options = config.partition(":")
    name = os.path.splitext(os.path.basename(path))[0]
    if options:
        name += "-" + options.replace("=", "-").replace(",", "_")
    name += "".join(f"_{key}-{value}" for key, value in point)
    if init == "random":
        name += "_init-random"
    return f"{name}_seed{seed}"


def requested_config(config_arguments: list[str]):
    """The config that `jaxssl.main` builds from these --config=FILE:OPTIONS and --config.KEY=VALUE."""
    argv = ["sweep", *config_arguments]
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", None, "", flag_values=flag_values, lock_config=True, sys_argv=argv
    )
    flag_values(argv)
    return flag_values.config


def recorded(workdir: str, protocol: str, fraction: float, init: str, config=None) -> bool:
    """Whether the run's offline_eval.jsonl already holds this protocol at this fraction and init. For a
    protocol with a recipe (`config[protocol]`), a record of another recipe is an error, not a match."""
    path = os.path.join(workdir, files.OFFLINE_EVAL)
    records = jsonl.read(path)
    matches = [
        r
        for r in records
        if r.get("protocol") == protocol
        and float(r.get("label_fraction", 1.0)) == fraction
        and r.get("init") == init
        and r.get("features") == "network"
    ]
    if matches and config is not None and protocol in RECIPE_PROTOCOLS:
        wanted = Recipe(**config[protocol])
        for record in matches:
            if Recipe(**record["recipe"]) != wanted:
                raise SystemExit(
                    f"{path} holds {protocol} at fraction {fraction:g} with the recipe {record['recipe']}, "
                    f"not the requested {dict(config[protocol])}: give the new recipe its own run directory "
                    f"(--grid={protocol}.KEY=VALUE names it apart, or another --root)"
                )
    return bool(matches)


def missing_protocols(command: list[str], workdir: str, spec: dict, init: str) -> list[str]:
    """The protocols of an evaluation command that its run has not recorded yet (each one checked, so that
    a record of another recipe stops the sweep whichever protocol comes first)."""
    config = requested_config([argument for argument in command if argument.startswith("--config")])
    return [p for p in spec["protocols"] if not recorded(workdir, p, spec["fraction"], init, config)]


def commands(args) -> list[tuple[list[str], str, dict | None]]:
    """(command, workdir, eval spec or None for pretraining) of every run of the sweep, in order."""
    grid = parse_grid(args.grid)
    evals = [parse_eval(spec) for spec in args.eval]
    points = [
        tuple(zip([k for k, _ in grid], values, strict=True))
        for values in itertools.product(*[v for _, v in grid])
    ]
    python = [sys.executable, "-m", "jaxssl.main"]
    result = []
    for config, point, seed in itertools.product(args.config, points, args.seeds):
        workdir = os.path.join(args.root, run_name(config, point, seed, args.eval_init))
        overrides = [f"--config={config}", f"--config.seed={seed}"] + [f"--config.{k}={v}" for k, v in point]
        extra = [flag.replace("{seed}", str(seed)) for flag in args.extra]
        if args.pretrain:
            result.append(([*python, *overrides, f"--workdir={workdir}", *extra], workdir, None))
        for spec in evals:
            command = [
                *python,
                "--mode=evaluate",
                *overrides,
                *spec["overrides"],
                f"--workdir={workdir}",
                f"--protocol={','.join(spec['protocols'])}",
                f"--label_fraction={spec['fraction']:g}",
                f"--eval_init={args.eval_init}",
                *extra,
            ]
            result.append((command, workdir, spec))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", required=True, help="Directory of the sweep's run directories.")
    parser.add_argument("--config", action="append", required=True, help="A base config (repeatable).")
    parser.add_argument("--grid", action="append", default=[], help="KEY=V1,V2,... (repeatable: a product).")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0])
    parser.add_argument(
        "--eval", action="append", default=[], help='"PROTOCOLS [fraction=F] [key=value ...]"'
    )
    parser.add_argument("--eval_init", choices=("checkpoint", "random"), default="checkpoint")
    parser.add_argument("--no_pretrain", dest="pretrain", action="store_false", help="Evaluate only.")
    parser.add_argument(
        "--print", dest="print_only", action="store_true", help="Print the commands; run nothing."
    )
    parser.add_argument(
        "extra", nargs="*", help="After --: flags passed to every jaxssl.main command, {seed} its run's seed."
    )
    args = parser.parse_args(argv)
    if args.eval_init == "random" and args.pretrain:
        parser.error("--eval_init=random evaluates untrained networks: add --no_pretrain")
    if not args.pretrain and not args.eval:
        parser.error("--no_pretrain with no --eval leaves nothing to run")
    report = [
        sys.executable,
        "-m",
        "jaxssl.report",
        os.path.join(args.root, "*"),
        f"--output={os.path.join(args.root, 'report.md')}",
        f"--curves={os.path.join(args.root, 'curves.png')}",
    ]
    planned = commands(args)
    if args.print_only:
        for command in [command for command, _, _ in planned] + [report]:
            print(shlex.join(["python", *command[1:]]))
        return 0
    runs = []
    for command, workdir, spec in planned:
        if spec is not None:
            missing = missing_protocols(command, workdir, spec, args.eval_init)
            if not missing:
                print(f"skip (recorded): {shlex.join(command)}", flush=True)
                continue
            command = [
                f"--protocol={','.join(missing)}" if a.startswith("--protocol=") else a for a in command
            ]
        runs.append(command)
    for command in runs:
        print(f"run: {shlex.join(command)}", flush=True)
        subprocess.run(command, check=True)
    subprocess.run(report, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
