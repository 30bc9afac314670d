r"""Noisy Student's rounds (Xie et al. 2020, algorithm 1): the first teacher, trained on the labelled examples
alone, then --rounds students, each taught by the run before it; each run a normal resumable run in
ROOT/round<r>, then evaluated by its own classifier (offline, --protocol=classifier). Run again, the same
command resumes what is missing: a finished run is a no-op, a recorded evaluation is skipped.

  python launch/noisy_student.py --root=runs/noisy_student --rounds=1 \
      --config=configs/noisy_student.py:dataset=fashion_mnist,label_fraction=0.01
  # equal or larger students: one value per run, the teacher's first (a ResNet's width; a Wide ResNet has none)
  python launch/noisy_student.py --root=runs/noisy_student_grow --rounds=2 \
      --config=configs/noisy_student.py:dataset=cifar10,labels=4000,backbone=resnet18 \
      --grow=model.width_multiplier=1,1,2
  # a first teacher trained without the students' noise: the supervised baseline on the same labels
  python launch/noisy_student.py --root=runs/noisy_student_clean --rounds=1 \
      --config=configs/noisy_student.py:dataset=fashion_mnist,label_fraction=0.01 \
      --teacher_config=configs/supervised.py:dataset=fashion_mnist,label_fraction=0.01

--print writes the commands, one per line, without running them (each round needs the one before: on a
cluster, dependent jobs). Flags after -- go to every jaxssl.main command (--config.data.manual_dir=...).
"""

import argparse
import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sweep import recorded  # noqa: E402  (launch/ is not a package)


def round_dir(root: str, index: int) -> str:
    return os.path.join(root, f"round{index}")


def parse_grow(grow: str | None, runs: int) -> list[list[str]]:
    """'model.width_multiplier=1,1,2' -> the --config override of each run (none without --grow)."""
    if grow is None:
        return [[] for _ in range(runs)]
    key, sep, values = grow.partition("=")
    values = values.split(",")
    if not sep or not key or len(values) != runs:
        raise SystemExit(
            f"--grow takes KEY=V0,...,V{runs - 1}, one value per run (the teacher first); got {grow!r}"
        )
    return [[f"--config.{key}={value}"] for value in values]


def commands(args) -> list[tuple[list[str], str, str]]:
    """(command, workdir, "train" or "evaluate") of every run in order: round r's training, then its
    evaluation, then round r + 1."""
    python = [sys.executable, "-m", "jaxssl.main"]
    planned = []
    for index, grown in enumerate(parse_grow(args.grow, args.rounds + 1)):
        workdir = round_dir(args.root, index)
        if index:
            config = args.config + ("," if ":" in args.config else ":")
            config += f"teacher={round_dir(args.root, index - 1)}"
        else:
            config = args.teacher_config or args.config
        flags = [f"--config={config}", *grown, *args.extra]
        planned.append(([*python, *flags, f"--workdir={workdir}"], workdir, "train"))
        planned.append(
            (
                [*python, "--mode=evaluate", *flags, f"--workdir={workdir}", "--protocol=classifier"],
                workdir,
                "evaluate",
            )
        )
    return planned


def run_to_its_end(command: list[str]) -> int:
    """Runs `command` and waits for it; its exit status (128 + N when signal N ended it). A Ctrl-C reaches the
    command too (one process group), which saves a checkpoint and exits 130: the launcher waits for that
    rather than ending the command."""
    process = subprocess.Popen(command)
    while True:
        try:
            status = process.wait()
        except KeyboardInterrupt:
            continue
        return 128 - status if status < 0 else status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", required=True, help="Directory of the rounds' run directories.")
    parser.add_argument("--config", required=True, help="configs/noisy_student.py:OPTIONS, without teacher=.")
    parser.add_argument(
        "--teacher_config",
        help="The first teacher's config (any with a classifier of its own); default: --config's, with mu = 0.",
    )
    parser.add_argument("--rounds", type=int, default=1, help="Students after the first teacher.")
    parser.add_argument(
        "--grow",
        help="KEY=V0,V1,...: one config value per run, the teacher's first (model.width_multiplier=1,1,2 on a "
        "ResNet backbone).",
    )
    parser.add_argument(
        "--print", dest="print_only", action="store_true", help="Print the commands; run nothing."
    )
    parser.add_argument("extra", nargs="*", help="After --: flags passed to every jaxssl.main command.")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds counts the students after the first teacher: at least 1")
    if "teacher=" in args.config:
        parser.error("--config names no teacher: each round's is the run before it")
    planned = commands(args)
    if args.print_only:
        for command, _, _ in planned:
            print(shlex.join(["python", *command[1:]]))
        return 0
    for command, workdir, kind in planned:
        if kind == "evaluate" and recorded(workdir, "classifier", 1.0, "checkpoint"):
            print(f"skip (recorded): {shlex.join(command)}", flush=True)
            continue
        print(f"run: {shlex.join(command)}", flush=True)
        status = run_to_its_end(command)
        if status:
            print(f"stopped at that command (exit status {status}); rerun to go on from it", file=sys.stderr)
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
