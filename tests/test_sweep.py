"""The sweep launcher: its grid, run names and commands, skipping what is recorded, and a tiny real sweep
through training, evaluation and the report."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

sys.path.insert(0, os.path.join(REPO, "launch"))
import sweep  # noqa: E402


def test_eval_specs_and_grid_parse():
    assert sweep.parse_eval("finetune,linear_lbfgs fraction=0.01 finetune.epochs=60") == {
        "protocols": ["finetune", "linear_lbfgs"],
        "fraction": 0.01,
        "overrides": ["--config.finetune.epochs=60"],
    }
    assert sweep.parse_grid(["optim.base_lr=0.2,0.4"]) == [("optim.base_lr", ["0.2", "0.4"])]
    for bad in ("fraction=0.1", "knn fraction"):
        with pytest.raises(SystemExit):
            sweep.parse_eval(bad)
    with pytest.raises(SystemExit):
        sweep.parse_grid(["optim.base_lr"])


def test_print_lists_every_command_of_the_product(capsys):
    argv = [
        "--root=runs/s",
        "--config=configs/quickstart.py:method=simclr",
        "--grid=optim.base_lr=0.2,0.4",
        "--seeds=0,1",
        "--eval=knn,health",
        "--eval=finetune fraction=0.1 finetune.epochs=30",
        "--print",
    ]
    assert sweep.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * 2 * 3 + 1  # (pretrain + 2 evaluations) per grid point and seed, then the report
    assert lines[0] == (
        "python -m jaxssl.main --config=configs/quickstart.py:method=simclr --config.seed=0 "
        "--config.optim.base_lr=0.2 --workdir=runs/s/quickstart-method-simclr_optim.base_lr-0.2_seed0"
    )
    assert "--config.finetune.epochs=30" in lines[2] and "--label_fraction=0.1" in lines[2]
    assert "--protocol=finetune" in lines[2] and "--mode=evaluate" in lines[2]
    assert lines[-1].startswith("python -m jaxssl.report 'runs/s/*' --output=runs/s/report.md")


def test_a_random_init_sweep_needs_no_pretraining_and_names_its_runs_apart(capsys):
    base = ["--root=r", "--config=configs/simclr.py:tiny=1", "--eval=finetune", "--eval_init=random"]
    with pytest.raises(SystemExit):
        sweep.main(base)  # would pretrain a run it then ignores
    assert sweep.main([*base, "--no_pretrain", "--print"]) == 0
    (evaluation, _) = capsys.readouterr().out.splitlines()[-2:]
    assert "--workdir=r/simclr-tiny-1_init-random_seed0" in evaluation and "--eval_init=random" in evaluation


def test_recorded_evaluations_are_found(tmp_path):
    with open(tmp_path / "offline_eval.jsonl", "w") as f:
        f.write(
            json.dumps(
                {"protocol": "knn", "label_fraction": 0.1, "init": "checkpoint", "features": "network"}
            )
            + "\n"
        )
    assert sweep.recorded(str(tmp_path), "knn", 0.1, "checkpoint")
    assert not sweep.recorded(str(tmp_path), "knn", 1.0, "checkpoint")
    assert not sweep.recorded(str(tmp_path), "finetune", 0.1, "checkpoint")
    assert not sweep.recorded(str(tmp_path / "missing"), "knn", 0.1, "checkpoint")


def test_a_tiny_sweep_trains_evaluates_and_reports(fashion_dir, tmp_path):
    root = tmp_path / "sweep"
    env = dict(os.environ, JAX_NUM_CPU_DEVICES="8", JAX_PLATFORMS="cpu")
    command = [
        sys.executable,
        os.path.join(REPO, "launch", "sweep.py"),
        f"--root={root}",
        "--config=configs/simclr.py:dataset=fashion_mnist,tiny=1",
        "--grid=optim.base_lr=0.5",
        "--eval=knn,linear_lbfgs",
        "--",
        f"--config.data.manual_dir={fashion_dir}",
        f"--compilation_cache={os.path.join(REPO, '.jax_cache')}",
    ]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    table = (root / "report.md").read_text()
    run = root / "simclr-dataset-fashion_mnist_tiny-1_optim.base_lr-0.5_seed0"
    with open(run / "config.json") as f:
        assert json.load(f)["optim"]["base_lr"] == 0.5
    records = [json.loads(line) for line in (run / "offline_eval.jsonl").read_text().splitlines()]
    assert [record["protocol"] for record in records] == ["knn", "linear_lbfgs"]
    assert "| simclr |" in table and "kNN best" in table and "linear (L-BFGS)" in table
    assert (root / "curves.png").read_bytes()[:4] == b"\x89PNG"
