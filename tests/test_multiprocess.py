"""Multi-process jobs on this machine: 2 processes x 4 CPU devices through the real command line and the real
initialisation (SLURM's environment variables, explicit process flags, launch/slurm.sbatch), checked against
1 process x 8 devices (the suite's own process)."""

import copy
import json
import os
import re
import shutil
import signal
import time

import jax
import numpy as np
import pytest
from absl import app
from jax.sharding import AxisType

from jaxssl import experiment, run_state, sharding, train
from jaxssl.cli import distributed
from jaxssl.evaluation import runner
from jaxssl.rundir import lock
from jaxssl.rundir.checkpoint import Checkpointer
from jaxssl.weights import export
from tests.helpers import cli_processes, saved_run, tiny_config, wait_all

STEPS = 6  # checkpoints at 3 and 6: a resume from step 3 reruns steps 4..6; one online evaluation, at 6


def pod_config(method, fashion_dir):
    config = tiny_config(method, fashion_dir, steps=STEPS)
    config.checkpoint.every_steps = 3
    config.eval.every_steps = STEPS
    return config


def pod_flags(method, fashion_dir, workdir):
    return [
        f"--config=configs/{method}.py:dataset=fashion_mnist,tiny=1",
        f"--workdir={workdir}",
        f"--config.data.manual_dir={fashion_dir}",
        f"--config.train.steps={STEPS}",
        "--config.checkpoint.every_steps=3",
        f"--config.eval.every_steps={STEPS}",
    ]


def run_pod(args, log_dir, **kwargs) -> str:
    """Runs one 2 x 4 job to its end; returns both processes' output, failing with it unless both exit 0."""
    codes = wait_all(cli_processes(args, log_dir, **kwargs))
    logs = ""
    for index in range(len(codes)):
        with open(os.path.join(log_dir, f"process_{index}.log")) as f:
            logs += f"--- process {index}\n" + f.read()
    assert codes == [0] * len(codes), logs[-6000:]
    return logs


def train_losses(workdir) -> list[tuple[int, float]]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    return [(line["step"], line["loss"]) for line in lines if line["split"] == "train"]


def assert_close_losses(found, expected):
    assert [step for step, _ in found] == [step for step, _ in expected]
    np.testing.assert_allclose([loss for _, loss in found], [loss for _, loss in expected], rtol=1e-5)


def newest_state(config, workdir):
    exp = experiment.prepare(config)
    checkpointer = Checkpointer(workdir, keep=None, identity=exp.identity)
    state = checkpointer.restore_latest(run_state.state_layout(exp))
    checkpointer.close()
    return state


def assert_close_trees(a, b):
    for x, y in zip(jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b)), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)


def exported_initialisation(config, workdir) -> str:
    """The native export of `config`'s network initialised from the next seed: a start that differs from the
    run's own initialisation."""
    other = copy.deepcopy(config)
    other.seed = config.seed + 1
    saved_run(other, workdir, far_from_init=False)
    return export.export(other, workdir, naming="native")


def copy_without_newest_checkpoint(source, destination):
    shutil.copytree(source, destination)
    shutil.rmtree(os.path.join(destination, "checkpoints", str(STEPS)))


def test_each_process_feeds_the_rows_its_devices_hold_under_the_batch_sharding():
    devices = jax.devices()
    reversed_mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,), devices=devices[::-1])
    held = sharding.batch_sharding(reversed_mesh)
    assert sharding.rows_held_by(held, 16, devices[:4]) == range(8, 16)
    assert sharding.rows_held_by(held, 16, devices[4:]) == range(0, 8)
    with pytest.raises(ValueError, match="not one contiguous block"):
        sharding.rows_held_by(held, 16, devices[::2])
    assert sharding.process_rows(sharding.make_mesh(), 16) == range(16)


@pytest.mark.parametrize(
    "flags, message",
    [
        ((True, "localhost:1234", 2, None), r"come together: add \['--process_id'\]"),
        ((True, "localhost:1234", 2, 2), r"--process_id=2 must lie in \[0, --num_processes=2\)"),
        ((False, None, 2, 0), r"\['--num_processes', '--process_id'\] need --distributed"),
    ],
)
def test_inconsistent_process_flags_are_one_clear_error(flags, message):
    with pytest.raises(app.UsageError, match=message):
        distributed.distributed_options(*flags)


def test_a_global_batch_the_processes_do_not_divide_is_refused(monkeypatch):
    monkeypatch.setattr(jax, "process_count", lambda: 3)
    with pytest.raises(ValueError, match=r"divisible by the number of devices \(8\) and of processes \(3\)"):
        sharding.check_batch_divides(16, sharding.make_mesh())


def test_process_flags_reach_jax_distributed_initialize():
    assert distributed.distributed_options(False, None, None, None) is None
    assert (
        distributed.distributed_options(True, None, None, None) == {}
    )  # detected: SLURM, TPU pods, Open MPI
    assert distributed.distributed_options(True, "host:1", 4, 3) == dict(
        coordinator_address="host:1", num_processes=4, process_id=3
    )


def test_two_processes_resume_a_one_process_run_past_its_corrupt_checkpoint_and_train_as_it_did(
    fashion_dir, tmp_path
):
    # A 1 x 8 run resumes in 2 x 4 (explicit process flags) with its newest checkpoint corrupt: each process
    # reports it, it is set aside once, both fall back to step 3 and train steps 4..6 as the one process did:
    # the same loss at every step and the same parameters. (SLURM's environment and 2 processes to 1: the
    # stateful test below.)
    one, one_to_two = str(tmp_path / "one"), str(tmp_path / "one_to_two")
    config = pod_config("simclr", fashion_dir)
    reference = train.run(config, one)
    shutil.copytree(one, one_to_two)
    newest = os.path.join(one_to_two, "checkpoints", str(STEPS), "state")
    for root, _, files in os.walk(newest):
        for name in files:
            with open(os.path.join(root, name), "r+b") as f:
                f.truncate(max(os.path.getsize(f.name) // 2, 1))
    logs = run_pod(pod_flags("simclr", fashion_dir, one_to_two), str(tmp_path / "logs"), init="flags")
    assert logs.count(f"checkpoint at step {STEPS} is unreadable") == 2  # each process reports it
    assert len(os.listdir(os.path.join(one_to_two, "checkpoints_unreadable"))) == 1  # moved once
    assert_close_losses(train_losses(one_to_two)[STEPS:], train_losses(one)[3:])
    assert_close_trees(newest_state(config, one_to_two).params, reference.params)


def test_a_stateful_method_through_launch_slurm_sbatch_trains_as_one_process(fashion_dir, tmp_path):
    # MoCo v2: the key queue (split over the devices) and the momentum encoder live in the state; its shuffled
    # BatchNorm is per device. The pod splits its weights too, as a large model's (each process holds only its
    # devices' parts: the online probe's logits gather them, and each process places its parts of the
    # exported weights both runs start from), and the one-process resume holds them whole.
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    config = pod_config("moco_v2", fashion_dir)
    config.init.weights = exported_initialisation(config, str(tmp_path / "pretrained"))
    reference = train.run(config, one)
    flags = pod_flags("moco_v2", fashion_dir, two)
    logs = run_pod(
        flags[2:]
        + ["--config.mesh.min_split_weight_bytes=2048", f"--config.init.weights={config.init.weights}"],
        str(tmp_path / "logs"),
        sbatch=(flags[0].split("=", 1)[1], two),
    )
    assert logs.count("backbone initialised from") == 2
    split = [int(count) for count in re.findall(r"(\d+) arrays split over the devices", logs)]
    assert len(split) == 2 and min(split) > 1, logs[-3000:]  # the queue and weights, in each process
    assert_close_losses(train_losses(two), train_losses(one))
    state = newest_state(config, two)
    assert_close_trees(
        (state.params, state.target, state.extra), (reference.params, reference.target, reference.extra)
    )
    two_to_one = str(tmp_path / "two_to_one")  # its queue, split over both processes, resumes in one
    copy_without_newest_checkpoint(two, two_to_one)
    resumed = train.run(config, two_to_one)
    assert_close_losses(train_losses(two_to_one)[STEPS:], train_losses(one)[3:])
    assert_close_trees(resumed.extra, reference.extra)


def offline_records(workdir):
    with open(os.path.join(workdir, "offline_eval.jsonl")) as f:
        return [json.loads(line) for line in f]


def flat_record(record, prefix=()) -> dict:
    """{path of keys: value} of a record's leaves, its wall time left out."""
    leaves = {}
    for key, value in record.items():
        if isinstance(value, dict):
            leaves.update(flat_record(value, (*prefix, key)))
        elif key != "seconds":
            leaves[(*prefix, key)] = value
    return leaves


def assert_close_records(found_dir, expected_dir):
    found, expected = offline_records(found_dir), offline_records(expected_dir)
    assert len(found) == len(expected)
    for record, reference in zip(map(flat_record, found), map(flat_record, expected), strict=True):
        assert record.keys() == reference.keys()
        for path, value in record.items():
            if isinstance(value, float):
                assert value == pytest.approx(reference[path], rel=1e-4, abs=1e-6), path
            elif isinstance(value, str):
                assert value.replace(found_dir, expected_dir) == reference[path], path
            else:
                assert value == reference[path], path


def test_offline_evaluation_in_two_processes_gives_one_process_numbers_and_one_set_of_records(
    fashion_dir, tmp_path
):
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    config = pod_config("simclr", fashion_dir)
    saved_run(config, one)  # a checkpoint far from its initialisation; evaluation needs no training
    shutil.copytree(one, two)
    protocols = ("knn", "linear_lbfgs", "health", "finetune", "tsne", "gallery")
    runner.evaluate(config, one, protocols=protocols)
    run_pod(
        ["--mode=evaluate", f"--workdir={two}", f"--protocol={','.join(protocols)}"], str(tmp_path / "logs")
    )
    assert_close_records(two, one)  # process 0 alone wrote them, and the figures
    assert sorted(os.listdir(os.path.join(two, "plots"))) == sorted(os.listdir(os.path.join(one, "plots")))


def test_sigterm_to_one_process_stops_every_process_at_the_same_saved_step(fashion_dir, tmp_path):
    # A preemption may signal one process only: they agree at the next log step, save it, and exit cleanly.
    workdir = str(tmp_path / "term")
    flags = pod_flags("simclr", fashion_dir, workdir)[:3] + [
        "--config.train.steps=100000",
        "--config.eval.every_steps=100000",
        "--config.checkpoint.every_steps=3",
    ]
    log_dir = str(tmp_path / "logs")
    started = cli_processes(flags, log_dir)
    deadline = time.time() + 240
    while time.time() < deadline and not os.path.isdir(os.path.join(workdir, "checkpoints", "3")):
        time.sleep(0.05)
    started[1].send_signal(signal.SIGTERM)
    assert wait_all(started, timeout=120) == [0, 0]
    saved = []
    for index in range(2):
        with open(os.path.join(log_dir, f"process_{index}.log")) as f:
            saved += [line.split("at step ")[1].split()[0] for line in f if "SIGTERM: saved" in line]
    assert len(saved) == 2 and saved[0] == saved[1]
    step = int(saved[0])
    assert 3 <= step < 100000
    assert max(int(name) for name in os.listdir(os.path.join(workdir, "checkpoints"))) == step
    assert train_losses(workdir)[-1][0] == step


def test_a_pod_on_a_busy_run_directory_stops_every_process_before_anything_is_written(fashion_dir, tmp_path):
    workdir = str(tmp_path / "busy")
    log_dir = str(tmp_path / "logs")
    with lock.hold(workdir):
        codes = wait_all(cli_processes(pod_flags("simclr", fashion_dir, workdir), log_dir), timeout=240)
    assert all(code not in (0, None) for code in codes), codes
    for index in range(2):
        with open(os.path.join(log_dir, f"process_{index}.log")) as f:
            assert "is in use by another run" in f.read()
    assert sorted(os.listdir(workdir)) == ["lock"]
