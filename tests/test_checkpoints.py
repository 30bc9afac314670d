"""Checkpoints of a run: the previous one used when the newest is unreadable, the run's identity and the
state's layout checked before anything is touched, one writer per run directory (the lock), checkpoints in
orbax's standard format, and how many are kept."""

import os
import subprocess
import sys

import jax
import orbax.checkpoint as ocp
import pytest

from jaxssl import experiment, run_state, train
from jaxssl.evaluation import runner
from jaxssl.rundir import lock
from jaxssl.rundir.checkpoint import Checkpointer, IncompatibleCheckpointError, WorkdirConflictError
from tests.helpers import assert_same_tree, checkpoint_steps, read_metrics, tiny_config


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
    # Run directories written before checkpoints went through our own handler registry (jaxssl/rundir/checkpoint.py:
    # replica-parallel saving only for large slices) hold StandardSave's format: they restore as they were.
    exp = experiment.prepare(tiny_config("simclr", fashion_dir))
    layout = run_state.state_layout(exp)
    state = run_state.create_state(exp, layout)
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


def test_only_the_last_k_checkpoints_are_kept(fashion_dir, tmp_path):
    config = tiny_config("simclr", fashion_dir, steps=6)  # 6 steps as elsewhere: one compiled step for all
    config.checkpoint.keep = 2
    train.run(config, str(tmp_path / "keep"))
    assert checkpoint_steps(str(tmp_path / "keep")) == [4, 6]
