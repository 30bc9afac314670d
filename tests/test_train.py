"""End to end through train.run and the real command line: what a run writes, its resume, its compiled
step, offline evaluation, bfloat16, 1 and 8 devices, epochs."""

import json
import os
import subprocess

import jax
import numpy as np
import pytest

from jaxssl import experiment, sharding, train
from jaxssl.evaluation import runner
from tests.helpers import checkpoint_steps, cli, executables_of_a_run, read_metrics, tiny_config


@pytest.mark.parametrize("method", ["simclr"])  # BYOL's target: the EMA methods of tests/test_methods.py
def test_command_line_run_writes_every_output_and_resumes(method, fashion_dir, tmp_path):
    workdir = str(tmp_path / method)
    args = [
        f"--config=configs/{method}.py:dataset=fashion_mnist,tiny=1",
        f"--workdir={workdir}",
        f"--config.data.manual_dir={fashion_dir}",
    ]
    command, options = cli(args, capture_output=True, text=True)
    result = subprocess.run(command, **options)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "step/s" in result.stderr or "it/s" in result.stderr  # the progress bar
    with open(os.path.join(workdir, "config.json")) as f:
        assert json.load(f)["method"]["name"] == method
    assert checkpoint_steps(workdir) == [2, 4]
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    lines = read_metrics(workdir)
    train_lines = [line for line in lines if line["split"] == "train"]
    eval_lines = [line for line in lines if line["split"] == "eval"]
    assert [line["step"] for line in train_lines] == [1, 2, 3, 4]
    terms = {"simclr": {"nt_xent"}, "byol": {"regression", "tau"}}[method]
    assert {"loss", "probe_top1", "lr"} | terms <= set(train_lines[0])
    assert all(np.isfinite(line["loss"]) for line in train_lines)
    assert [line["step"] for line in eval_lines] == [2, 4]
    assert all(0.0 <= line["knn_top1"] <= 1.0 and 0.0 <= line["linear_top1"] <= 1.0 for line in eval_lines)
    health_keys = {"effective_rank", "feature_std_mean", "alignment", "uniformity", "collapsed"}
    assert all(health_keys <= set(line) for line in eval_lines)
    (run_line,) = [line for line in lines if line["split"] == "run"]
    assert run_line["step"] == 4 and run_line["start_step"] == 0 and run_line["examples_per_s"] > 0

    result = subprocess.run(command[:-1] + [args[-1], "--config.train.steps=6"], **options)
    assert result.returncode == 0, result.stderr[-3000:]
    assert checkpoint_steps(workdir)[-1] == 6
    resumed = [line["step"] for line in read_metrics(workdir) if line["split"] == "train"][4:]
    assert resumed == [5, 6]
    assert os.path.exists(os.path.join(workdir, "config.1.json"))  # the first config is kept


def test_the_step_compiles_once(fashion_dir):
    assert executables_of_a_run(experiment.prepare(tiny_config("byol", fashion_dir)), num_steps=3) == 1


def test_offline_evaluation_of_a_run_and_its_baselines(fashion_dir, tmp_path):
    workdir = str(tmp_path / "eval")
    config = tiny_config("simclr", fashion_dir)
    with pytest.raises(FileNotFoundError, match="no readable checkpoint"):
        runner.evaluate(config, workdir)
    assert not os.path.exists(workdir)  # the failed evaluation wrote nothing
    train.run(config, workdir)
    for features, init in (("network", "checkpoint"), ("network", "random"), ("pixels", "checkpoint")):
        runner.evaluate(config, workdir, features=features, init=init)
    with open(os.path.join(workdir, "offline_eval.jsonl")) as f:
        results = [json.loads(line) for line in f]
    assert [(r["features"], r["init"], r["step"], r["protocol"]) for r in results] == [
        (features, init, step, protocol)
        for features, init, step in (
            ("network", "checkpoint", 4),
            ("network", "random", 0),
            ("pixels", None, None),
        )
        for protocol in ("knn", "linear_lbfgs", "health")
    ]
    for r in results:
        assert r["labelled_examples"] == 64 and r["eval_examples"] == 32
        assert all(0.0 <= r[name] <= 1.0 for name in ("top1",) if name in r)
    pixels_knn, pixels_linear, pixels_health = results[6:]
    assert set(pixels_knn["grid"]) == {"backbone"}  # pixels have no projector
    assert pixels_linear["top1"] > 0.5  # the tiny classes differ in brightness: pixels separate them
    assert pixels_health["spaces"]["backbone"]["feature_std_isotropic"] == pytest.approx(1 / 28)


def test_bfloat16_compute_keeps_float32_parameters(fashion_dir, tmp_path):
    config = tiny_config("byol", fashion_dir, dtype="bfloat16", steps=2)
    state = train.run(config, str(tmp_path / "bf16"))
    dtypes = {
        leaf.dtype
        for leaf in jax.tree.leaves((state.params, state.target, state.opt_state))
        if hasattr(leaf, "dtype") and jax.numpy.issubdtype(leaf.dtype, jax.numpy.floating)
    }
    assert dtypes == {jax.numpy.dtype("float32")}
    assert all(np.isfinite(line["loss"]) for line in read_metrics(str(tmp_path / "bf16")) if "loss" in line)


@pytest.mark.parametrize(
    "method", ["simclr"]
)  # with a target and shuffled BN: MoCo v2 in tests/test_methods.py
def test_training_on_1_and_8_devices_gives_the_same_run(method, fashion_dir, tmp_path, monkeypatch):
    # The tiny preset's 4 steps: the 8-device run's compiled step is the other tests' (the cache serves it).
    eight = train.run(tiny_config(method, fashion_dir), str(tmp_path / "eight"))
    all_devices = sharding.make_mesh
    monkeypatch.setattr(sharding, "make_mesh", lambda: all_devices(1))
    one = train.run(tiny_config(method, fashion_dir), str(tmp_path / "one"))
    assert eight.params["model"]["backbone"]["stem_conv"]["kernel"].sharding.mesh.size == 8
    for a, b in zip(
        jax.tree.leaves(jax.device_get(one)), jax.tree.leaves(jax.device_get(eight)), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    losses_one = [line["loss"] for line in read_metrics(str(tmp_path / "one")) if line["split"] == "train"]
    losses_eight = [
        line["loss"] for line in read_metrics(str(tmp_path / "eight")) if line["split"] == "train"
    ]
    np.testing.assert_allclose(losses_one, losses_eight, rtol=1e-5)


def test_epochs_resolve_against_the_examples_actually_loaded(fashion_dir):
    config = tiny_config("simclr", fashion_dir, steps=-1, epochs=2.0, warmup_epochs=1.0)
    exp = experiment.prepare(config)
    assert exp.total_steps == 2 * 64 // 16  # the 64-example local copy, not Fashion-MNIST's 60,000
