"""Faults during a run: SIGKILL at random points then the same command, and a non-finite loss or update that
stops the run without saving it. SIGTERM's and SIGINT's last checkpoint (one stop request, two exit codes):
tests/test_multiprocess.py (SIGTERM to one process of two) and tests/test_interrupts.py (Ctrl-C)."""

import functools
import json
import os
import random
import signal
import subprocess
import time

import jax
import pytest

from jaxssl import experiment, finite, run_state, train
from jaxssl.methods import METHODS
from jaxssl.rundir import jsonl
from jaxssl.rundir.checkpoint import Checkpointer
from tests.helpers import (
    assert_same_tree,
    checkpoint_steps,
    cli,
    tiny_config,
)


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
    # kill every record file parses; the last launch runs to the end. One kill by default (each launch starts
    # Python, TensorFlow and JAX again); JAXSSL_FAULT_KILLS and JAXSSL_FAULT_SEED ask for more kills or other
    # points.
    kills, rng = (
        int(os.environ.get("JAXSSL_FAULT_KILLS", 1)),
        random.Random(os.environ.get("JAXSSL_FAULT_SEED", 0)),
    )
    killed, reference = str(tmp_path / "killed"), str(tmp_path / "reference")
    overrides = ["--config.train.steps=20", "--config.eval.every_steps=10"]
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
    assert record_files_parse(killed) == 20
    config = tiny_config("simclr", fashion_dir, steps=20)
    config.eval.every_steps = 10
    final = train.run(config, reference)
    restored = experiment.prepare(config)
    layout = run_state.state_layout(restored)
    checkpointer = Checkpointer(killed, keep=3, identity=restored.identity)
    state = checkpointer.restore_latest(layout)
    checkpointer.close()
    assert int(state.step) == 20
    assert_same_tree(state.params, final.params)
    assert_same_tree(state.opt_state, final.opt_state)


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
        run_state.state_layout(experiment.prepare(config))
    )
    assert int(restored.step) == 2 and bool(finite.all_finite(restored.params))
