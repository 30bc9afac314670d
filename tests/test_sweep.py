"""The sweep launcher: its grid, run names and commands, skipping what is recorded, and a tiny real sweep
through training, evaluation and the report."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import CACHE_FLAG, REPO

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


def test_flags_after_the_separator_reach_every_command_with_its_seed(capsys):
    argv = ["--root=r", "--config=configs/fixmatch.py:tiny=1", "--seeds=0,2", "--eval=classifier", "--print"]
    assert sweep.main([*argv, "--", "--config.init.workdir=p/simclr_seed{seed}"]) == 0
    lines = capsys.readouterr().out.splitlines()[:-1]
    assert [line.split()[-1] for line in lines] == ["--config.init.workdir=p/simclr_seed0"] * 2 + [
        "--config.init.workdir=p/simclr_seed2"
    ] * 2


def test_a_random_init_sweep_needs_no_pretraining_and_names_its_runs_apart(capsys):
    base = ["--root=r", "--config=configs/simclr.py:tiny=1", "--eval=finetune", "--eval_init=random"]
    with pytest.raises(SystemExit):
        sweep.main(base)  # would pretrain a run it then ignores
    assert sweep.main([*base, "--no_pretrain", "--print"]) == 0
    (evaluation, _) = capsys.readouterr().out.splitlines()[-2:]
    assert "--workdir=r/simclr-tiny-1_init-random_seed0" in evaluation and "--eval_init=random" in evaluation


def write_records(workdir, *records):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "offline_eval.jsonl"), "w") as f:
        f.writelines(json.dumps({"init": "checkpoint", "features": "network", **r}) + "\n" for r in records)


def test_recorded_evaluations_are_found(tmp_path):
    write_records(tmp_path, {"protocol": "knn", "label_fraction": 0.1})
    assert sweep.recorded(str(tmp_path), "knn", 0.1, "checkpoint")
    assert not sweep.recorded(str(tmp_path), "knn", 1.0, "checkpoint")
    assert not sweep.recorded(str(tmp_path), "knn", 0.1, "random")
    assert not sweep.recorded(str(tmp_path), "finetune", 0.1, "checkpoint")
    assert not sweep.recorded(str(tmp_path / "missing"), "knn", 0.1, "checkpoint")
    with open(tmp_path / "offline_eval.jsonl", "a") as f:
        f.write('{"protocol": "linear_lbfgs", "lab')  # a line torn by a kill: skipped with a warning
    assert sweep.recorded(str(tmp_path), "knn", 0.1, "checkpoint")


QUICKSTART = ["--config=configs/quickstart.py:method=simclr", "--config.seed=0"]


def test_a_recipe_record_matches_only_its_own_recipe(tmp_path):
    config = sweep.requested_config([*QUICKSTART, "--config.finetune.epochs=30"])
    assert config.finetune.epochs == 30
    recipe = dict(config.finetune)
    # A record written before a Recipe field existed holds that field's default and still matches.
    old = {key: value for key, value in recipe.items() if key != "nesterov"}
    for name, kept in (("now", recipe), ("old", old)):
        workdir = str(tmp_path / name)
        write_records(workdir, {"protocol": "finetune", "label_fraction": 0.1, "recipe": kept})
        assert sweep.recorded(workdir, "finetune", 0.1, "checkpoint", config)
    with pytest.raises(SystemExit, match=r"--grid=finetune\.KEY=VALUE"):
        sweep.recorded(workdir, "finetune", 0.1, "checkpoint", sweep.requested_config(QUICKSTART))


def test_a_sweep_runs_only_what_is_missing_and_refuses_a_second_recipe(tmp_path, monkeypatch):
    root = tmp_path / "root"
    workdir = root / "quickstart-method-simclr_seed0"
    base = [f"--root={root}", QUICKSTART[0], "--no_pretrain", "--eval=linear_lbfgs,finetune fraction=0.1"]
    ran = []
    monkeypatch.setattr(sweep.subprocess, "run", lambda command, check: ran.append(command))
    finetune = dict(sweep.requested_config(QUICKSTART).finetune)
    write_records(workdir, {"protocol": "finetune", "label_fraction": 0.1, "recipe": finetune})
    assert sweep.main(base) == 0
    (evaluation, report) = ran
    assert "--protocol=linear_lbfgs" in evaluation and "jaxssl.report" in report

    ran.clear()
    with pytest.raises(SystemExit, match="holds finetune at fraction 0.1"):
        sweep.main([*base[:-1], "--eval=linear_lbfgs,finetune fraction=0.1 finetune.epochs=30"])
    assert ran == []  # refused before anything ran


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
        CACHE_FLAG,
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
