"""End to end through train.run and the real command line: outputs, resume, faults, bad input."""

import functools
import json
import os
import random
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from configs import byol as byol_config
from configs import simclr as simclr_config
from jaxssl import experiment, finite, sharding, train
from jaxssl.evaluation import runner
from jaxssl.methods import METHODS
from jaxssl.rundir import jsonl, lock
from jaxssl.rundir.checkpoint import Checkpointer, IncompatibleCheckpointError, WorkdirConflictError
from tests.helpers import cli, executables_of_a_run

CONFIGS = {"simclr": simclr_config, "byol": byol_config}


def tiny_config(method, fashion_dir, **train_overrides):
    config = CONFIGS[method].get_config("dataset=fashion_mnist,tiny=1")
    config.data.manual_dir = fashion_dir
    config.train.update(train_overrides)
    return config


def read_metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def checkpoint_steps(workdir):
    return sorted(int(name) for name in os.listdir(os.path.join(workdir, "checkpoints")) if name.isdigit())


def assert_same_tree(a, b):
    for x, y in zip(jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b)), strict=True):
        np.testing.assert_array_equal(x, y)


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


def record_files_parse(workdir) -> int:
    """Reads the record files of a run (a torn last line is allowed, skipped); returns the newest train step."""
    with open(os.path.join(workdir, "config.json")) as f:
        json.load(f)
    steps = [
        line["step"]
        for line in jsonl.read(os.path.join(workdir, "metrics.jsonl"))
        if line["split"] == "train"
    ]
    return max(steps, default=0)


def test_sigkill_at_random_points_then_the_same_command_reaches_the_uninterrupted_parameters(
    fashion_dir, tmp_path
):
    # Fault injection: each launch is killed (SIGKILL) a random time after it logs a new step, so the kills
    # land during steps, checkpoint saves, metric writes and online evaluations (every 10 steps). After each
    # kill every record file parses; the last launch runs to the end. JAXSSL_FAULT_KILLS and JAXSSL_FAULT_SEED
    # ask for more kills or other points.
    kills, rng = (
        int(os.environ.get("JAXSSL_FAULT_KILLS", 2)),
        random.Random(os.environ.get("JAXSSL_FAULT_SEED", 0)),
    )
    killed, reference = str(tmp_path / "killed"), str(tmp_path / "reference")
    overrides = ["--config.train.steps=30", "--config.eval.every_steps=10"]
    args = [
        "--config=configs/simclr.py:dataset=fashion_mnist,tiny=1",
        f"--workdir={killed}",
        f"--config.data.manual_dir={fashion_dir}",
        *overrides,
    ]
    command, options = cli(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    newest = 0
    for _ in range(kills):
        process = subprocess.Popen(command, **options)
        deadline = time.time() + 120
        while process.poll() is None and time.time() < deadline:
            if os.path.exists(os.path.join(killed, "metrics.jsonl")) and record_files_parse(killed) > newest:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.5))
        process.send_signal(signal.SIGKILL)
        if process.wait() == 0:
            break  # it finished before the kill
        newest = record_files_parse(killed)
    assert subprocess.run(command, **options).returncode == 0
    assert record_files_parse(killed) == 30
    config = tiny_config("simclr", fashion_dir, steps=30)
    config.eval.every_steps = 10
    final = train.run(config, reference)
    restored = experiment.prepare(config)
    layout = experiment.state_layout(restored)
    checkpointer = Checkpointer(killed, keep=3, identity=restored.identity)
    state = checkpointer.restore_latest(layout)
    checkpointer.close()
    assert int(state.step) == 30
    assert_same_tree(state.params, final.params)
    assert_same_tree(state.opt_state, final.opt_state)


def test_sigterm_saves_a_checkpoint_and_stops(fashion_dir, tmp_path):
    workdir = str(tmp_path / "term")
    args = [
        "--config=configs/byol.py:dataset=fashion_mnist,tiny=1",
        f"--workdir={workdir}",
        f"--config.data.manual_dir={fashion_dir}",
        "--config.train.steps=100000",
        "--config.eval.every_steps=100000",
        "--config.checkpoint.every_steps=3",
    ]
    command, options = cli(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    process = subprocess.Popen(command, **options)
    deadline = time.time() + 120
    while time.time() < deadline and not os.path.isdir(os.path.join(workdir, "checkpoints", "3")):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    last_step = read_metrics(workdir)[-1]["step"]
    assert 3 <= last_step < 100000
    assert checkpoint_steps(workdir)[-1] == last_step


def test_corrupt_latest_checkpoint_is_reported_and_the_previous_one_used(fashion_dir, tmp_path, caplog):
    workdir = str(tmp_path / "corrupt")
    train.run(tiny_config("simclr", fashion_dir, steps=4), workdir)
    state_dir = os.path.join(workdir, "checkpoints", "4", "state")
    for root, _, files in os.walk(state_dir):
        for name in files:
            with open(os.path.join(root, name), "r+b") as f:
                f.truncate(max(os.path.getsize(f.name) // 2, 1))
    final = train.run(tiny_config("simclr", fashion_dir, steps=6), workdir)
    assert int(final.step) == 6
    assert "unreadable" in caplog.text
    assert os.listdir(os.path.join(workdir, "checkpoints_unreadable"))  # set aside, not deleted
    resumed = [line["step"] for line in read_metrics(workdir) if line["split"] == "train"][4:]
    assert resumed == [3, 4, 5, 6]


def test_workdir_of_another_method_is_refused_and_left_untouched(fashion_dir, tmp_path):
    workdir = str(tmp_path / "taken")
    train.run(tiny_config("simclr", fashion_dir), workdir)
    before = {
        path: os.path.getmtime(os.path.join(root, path))
        for root, _, files in os.walk(workdir)
        for path in files
        if path != "lock"  # each command that may train takes the directory's lock (tested below)
    }
    with pytest.raises(WorkdirConflictError, match="byol"):
        train.run(tiny_config("byol", fashion_dir), workdir)
    other_backbone = tiny_config("simclr", fashion_dir)
    other_backbone.model.width_multiplier = 2.0
    with pytest.raises(WorkdirConflictError, match="width_multiplier"):
        train.run(other_backbone, workdir)
    after = {
        path: os.path.getmtime(os.path.join(root, path))
        for root, _, files in os.walk(workdir)
        for path in files
        if path != "lock"
    }
    assert after == before


HOLD_THE_LOCK = (
    "import sys, time; from jaxssl.rundir import lock\n"
    "with lock.hold(sys.argv[1]):\n"
    "    print('held', flush=True); time.sleep(600)"
)


def test_one_writer_per_run_directory_and_a_dead_writers_lock_is_taken_over(fashion_dir, tmp_path, caplog):
    workdir = str(tmp_path / "busy")
    config = tiny_config("simclr", fashion_dir, steps=2)
    train.run(config, workdir)
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, workdir], stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout.readline() == "held\n"
        before = read_metrics(workdir)
        with pytest.raises(lock.WorkdirBusyError, match=rf"pid {other.pid} since"):
            train.run(tiny_config("simclr", fashion_dir, steps=4), workdir)
        assert read_metrics(workdir) == before and checkpoint_steps(workdir) == [2]
        # Offline evaluation only reads a checkpoint: allowed while another process trains.
        (record,) = runner.evaluate(config, workdir, protocols=("linear_lbfgs",))
        assert record["step"] == 2
    finally:
        other.kill()  # SIGKILL: the lock's text stays behind, the OS releases the lock itself
        other.wait()
    caplog.set_level("WARNING")
    train.run(tiny_config("simclr", fashion_dir, steps=4), workdir)
    assert any(f"pid {other.pid}" in m and "taking over" in m for m in caplog.messages)
    assert not any("Metadata file does not exist" in m for m in caplog.messages)  # the restore of step 2
    assert checkpoint_steps(workdir) == [2, 4]
    with open(os.path.join(workdir, "lock")) as f:
        assert f.read() == ""  # released cleanly: nothing for the next run to warn about


def test_checkpoint_that_does_not_fit_the_state_is_refused_and_left_untouched(fashion_dir, tmp_path):
    workdir = str(tmp_path / "heads")
    train.run(tiny_config("simclr", fashion_dir, steps=2), workdir)
    before = sorted(os.listdir(os.path.join(workdir, "checkpoints")))
    wider = tiny_config("simclr", fashion_dir, steps=4)
    wider.method.projection_dim = 24
    with pytest.raises(IncompatibleCheckpointError, match="projector"):
        train.run(wider, workdir)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == before
    assert not os.path.exists(os.path.join(workdir, "checkpoints_unreadable"))
    assert not os.path.exists(os.path.join(workdir, "config.1.json"))


def test_a_checkpoint_written_by_orbaxs_standard_save_still_restores(fashion_dir, tmp_path):
    # Run directories written before checkpoints went through our own handler registry (jaxssl/checkpoint.py:
    # replica-parallel saving only for large slices) hold StandardSave's format: they restore as they were.
    exp = experiment.prepare(tiny_config("simclr", fashion_dir))
    layout = experiment.state_layout(exp)
    state = experiment.create_state(exp, layout)
    state = state.replace(params=jax.tree.map(lambda x: x + 0.5, state.params))  # not the fresh values
    directory = os.path.join(str(tmp_path), "checkpoints")
    manager = ocp.CheckpointManager(
        directory, options=ocp.CheckpointManagerOptions(create=True), item_names=("state", "identity")
    )
    manager.save(
        7,
        args=ocp.args.Composite(state=ocp.args.StandardSave(state), identity=ocp.args.JsonSave(exp.identity)),
    )
    manager.wait_until_finished()
    manager.close()
    checkpointer = Checkpointer(str(tmp_path), keep=None, identity=exp.identity)
    checkpointer.check_identity()
    restored = checkpointer.restore_latest(layout)
    checkpointer.close()
    assert_same_tree(restored, state)


@functools.wraps(METHODS["simclr"])
def nan_after_two_steps(context, **kwargs):
    method = METHODS["simclr"](context, **kwargs)

    def loss(params, inputs):
        value, aux = method.loss(params, inputs)
        return jax.numpy.where(inputs.step >= 2, jax.numpy.nan, value), aux

    return method.__class__(name="nan", network=method.network, loss=loss)


def test_non_finite_loss_stops_naming_the_step_without_saving(fashion_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS, "nan", nan_after_two_steps)
    config = tiny_config("simclr", fashion_dir)
    config.method.name = "nan"
    workdir = str(tmp_path / "nan")
    with pytest.raises(finite.NonFiniteLossError, match="at step 3"):
        train.run(config, workdir)
    assert checkpoint_steps(workdir) == [2]


@jax.custom_vjp
def nan_gradient(x):
    """0, with a NaN gradient: a term that keeps the loss finite and poisons the update."""
    return jax.numpy.zeros(())


nan_gradient.defvjp(lambda x: (jax.numpy.zeros(()), x), lambda x, g: (jax.numpy.full_like(x, jax.numpy.nan),))


@functools.wraps(METHODS["simclr"])
def nan_update_at_step_three(context, **kwargs):
    method = METHODS["simclr"](context, **kwargs)

    def loss(params, inputs):
        value, aux = method.loss(params, inputs)
        leaf = jax.tree.leaves(params)[0]
        return value + jax.lax.cond(inputs.step == 2, nan_gradient, lambda x: jax.numpy.zeros(()), leaf), aux

    return method.__class__(name="nan_update", network=method.network, loss=loss)


def test_a_non_finite_update_on_a_checkpoint_step_is_never_saved(fashion_dir, tmp_path, monkeypatch):
    # The loss of step 3 is finite (it is computed before the update); the state after it is NaN and step 3 is a
    # checkpoint step. The error names the last good checkpoint, and a rerun resumes it.
    monkeypatch.setitem(METHODS, "nan_update", nan_update_at_step_three)
    config = tiny_config("simclr", fashion_dir)
    config.method.name = "nan_update"
    config.checkpoint.every_steps = 1
    workdir = str(tmp_path / "nan_update")
    with pytest.raises(
        finite.NonFiniteStateError, match=r"step 3 left NaN .*\['opt_state', 'params'\].*step 2\."
    ):
        train.run(config, workdir)
    assert checkpoint_steps(workdir) == [1, 2]
    restored = Checkpointer(workdir, keep=None, identity={}).restore_latest(
        experiment.state_layout(experiment.prepare(config))
    )
    assert int(restored.step) == 2 and bool(finite.all_finite(restored.params))


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


BAD_INPUTS = {
    "unknown method": (
        lambda c: setattr(c.method, "name", "simclrr"),
        ValueError,
        "unknown method 'simclrr'",
    ),
    "unknown backbone": (lambda c: setattr(c.model, "backbone", "resnet19"), ValueError, "unknown backbone"),
    "unknown dataset": (lambda c: setattr(c.data, "dataset", "mnist3"), ValueError, "unknown dataset"),
    "unknown stem": (lambda c: setattr(c.model, "stem", "tpu"), ValueError, "unknown stem"),
    "batch not divisible by devices": (
        lambda c: setattr(c.train, "batch_size", 12),
        ValueError,
        "divisible by the number of devices",
    ),
    "no duration": (lambda c: c.train.update(steps=-1, epochs=-1.0), ValueError, "set either"),
    "unknown optimizer": (lambda c: setattr(c.optim, "name", "lamb"), ValueError, "unknown optimizer"),
    "NaN learning rate": (
        lambda c: setattr(c.optim, "base_lr", float("nan")),
        ValueError,
        r"config.optim.base_lr is nan: every number in a config must be finite",
    ),
    "negative temperature": (
        lambda c: setattr(c.method, "temperature", -0.1),
        ValueError,
        r"config.method.temperature must be positive, got -0.1",
    ),
    "momentum above 1": (
        lambda c: setattr(c.optim, "momentum", 1.5),
        ValueError,
        r"config.optim.momentum must be in \[0, 1\]",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_before_anything_is_written(case, fashion_dir, tmp_path):
    change, error, message = BAD_INPUTS[case]
    config = tiny_config("simclr", fashion_dir)
    config.unlock()
    change(config)
    workdir = str(tmp_path / "never")
    with pytest.raises(error, match=message):
        train.run(config, workdir)
    assert not os.path.exists(workdir)


def test_unknown_key_in_a_method_block_names_the_allowed_keys(fashion_dir, tmp_path):
    config = tiny_config("simclr", fashion_dir)
    config.unlock()
    config.method.temprature = 0.2
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['temprature'\] in config.method"):
        train.run(config, str(tmp_path / "never"))
    assert not os.path.exists(tmp_path / "never")


def test_locked_config_refuses_misspelled_keys_and_wrong_types():
    config = simclr_config.get_config("tiny=1")
    with pytest.raises(AttributeError):
        config.train.bacth_size = 4
    with pytest.raises(TypeError):
        config.train.batch_size = "four"
    with pytest.raises(ValueError, match="config option"):
        simclr_config.get_config("datset=cifar10")
    with pytest.raises(ValueError, match="takes a int"):
        simclr_config.get_config("batch=big")
    with pytest.raises(ValueError, match=r"tiny=true sets its own batch and steps.*drop \['batch'\]"):
        simclr_config.get_config("batch=64,tiny=1")
    assert simclr_config.get_config("backbone=vit_small,tiny=1").model.backbone == "vit_micro"


def test_command_line_rejects_a_misspelled_override_before_writing(tmp_path):
    workdir = str(tmp_path / "never")
    command, options = cli(
        ["--config=configs/simclr.py:tiny=1", f"--workdir={workdir}", "--config.train.bacth_size=8"],
        capture_output=True,
        text=True,
    )
    result = subprocess.run(command, **options)
    assert result.returncode != 0
    assert 'Did you mean "batch_size"' in result.stderr and "Traceback" not in result.stderr
    assert not os.path.exists(workdir)


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
    eight = train.run(tiny_config(method, fashion_dir, steps=3), str(tmp_path / "eight"))
    all_devices = sharding.make_mesh
    monkeypatch.setattr(sharding, "make_mesh", lambda: all_devices(1))
    one = train.run(tiny_config(method, fashion_dir, steps=3), str(tmp_path / "one"))
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


def test_only_the_last_k_checkpoints_are_kept(fashion_dir, tmp_path):
    config = tiny_config("simclr", fashion_dir, steps=8)
    config.checkpoint.keep = 2
    train.run(config, str(tmp_path / "keep"))
    assert checkpoint_steps(str(tmp_path / "keep")) == [6, 8]
