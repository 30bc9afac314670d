"""Helpers shared by test modules (not collected: no test_ prefix)."""

import importlib
import json
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxssl import batch_streams, experiment, run_state, sharding, train
from jaxssl.rundir.checkpoint import Checkpointer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


CACHE_FLAG = f"--compilation_cache={jax.config.jax_compilation_cache_dir}"  # the suite's own (conftest.py)


def cli(args, **kwargs):
    env = dict(os.environ, JAX_NUM_CPU_DEVICES="8", JAX_PLATFORMS="cpu")
    return [sys.executable, "-m", "jaxssl.main", CACHE_FLAG, *args], dict(cwd=REPO, env=env, **kwargs)


LAST_STEP_ONLY = 10**9  # an eval.every_steps no test run reaches: it evaluates when it finishes
SLURM_PORTS = 61440  # jax's SLURM detection puts the coordinator on port 61440 + SLURM_JOB_ID % 4096


def signalled_endless_run(method: str, fashion_dir, workdir: str, signum: int):
    """A tiny command-line run of `method` that would never end, checkpointing every 3 steps, sent `signum`
    once its step-3 checkpoint exists: (exit status, stderr). The child starts with Python's own SIGINT
    handler, as from a terminal, whatever the test process has installed."""
    args = [
        f"--config=configs/{method}.py:dataset=fashion_mnist,tiny=1",
        f"--workdir={workdir}",
        f"--config.data.manual_dir={fashion_dir}",
        "--config.train.steps=100000",
        "--config.eval.every_steps=100000",
        "--config.checkpoint.every_steps=3",
    ]
    command, options = cli(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(command, **options)
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.time() + 120
    while time.time() < deadline and not os.path.isdir(os.path.join(workdir, "checkpoints", "3")):
        time.sleep(0.05)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def free_slurm_job_id() -> int:
    """A SLURM_JOB_ID whose coordinator port is free on this machine (tests may run side by side)."""
    for offset in random.sample(range(4096), 64):
        with socket.socket() as probe:
            try:
                probe.bind(("localhost", SLURM_PORTS + offset))
            except OSError:
                continue
        return offset
    raise RuntimeError("no free port in 61440..65535 for a SLURM coordinator")


def srun_shim(directory) -> str:
    """A directory for PATH with `srun` (runs its command, as srun does for each task) and `python` (this
    interpreter), so launch/slurm.sbatch runs here as a SLURM task would. `python` is a script that execs
    this interpreter by its own path: a symlink would lose a virtualenv, whose interpreter finds its
    pyvenv.cfg next to the path it was started by. Each script is written beside and renamed into place: a
    process of the same job may be executing it, and a file open for writing cannot be executed (the shell
    would then go on down PATH to another python)."""
    os.makedirs(directory, exist_ok=True)
    scripts = {"srun": 'exec "$@"', "python": f'exec {shlex.quote(sys.executable)} "$@"'}
    for name, body in scripts.items():
        path = os.path.join(directory, name)
        with open(path + ".new", "w") as f:
            f.write(f"#!/bin/sh\n{body}\n")
        os.chmod(path + ".new", 0o755)
        os.replace(path + ".new", path)
    return directory


def cli_processes(
    args,
    log_dir,
    *,
    processes: int = 2,
    devices: int = 4,
    init: str = "slurm",
    sbatch: tuple | None = None,
    env: dict | None = None,
):
    """One multi-process job on this machine through the real command line: `processes` copies of
    jaxssl.main, each with `devices` CPU devices and gloo's CPU collectives, initialised as a cluster does:
    init "slurm" through SLURM's environment variables (jax.distributed.initialize() detects them), "flags"
    through --coordinator_address/--num_processes/--process_id. sbatch=(config, workdir): each task runs
    launch/slurm.sbatch with them and `args` as its extra flags; `env`: more environment variables. Output
    goes to log_dir/process_<i>.log; returns the Popen objects."""
    job = free_slurm_job_id()
    os.makedirs(log_dir, exist_ok=True)
    started = []
    for index in range(processes):
        if init == "slurm":
            flags, cluster = (
                [],
                {
                    "SLURM_JOB_ID": str(job),
                    "SLURM_NTASKS": str(processes),
                    "SLURM_PROCID": str(index),
                    "SLURM_LOCALID": str(index),
                    "SLURM_STEP_NODELIST": "localhost",
                },
            )
        else:
            flags, cluster = (
                [
                    f"--coordinator_address=localhost:{SLURM_PORTS + job}",
                    f"--num_processes={processes}",
                    f"--process_id={index}",
                ],
                {},
            )
        command, options = cli(["--distributed", *flags, *args])
        options["env"].update(
            cluster,
            JAX_NUM_CPU_DEVICES=str(devices),
            JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",
            **(env or {}),
        )
        if sbatch:
            command = ["bash", os.path.join(REPO, "launch", "slurm.sbatch"), *sbatch, CACHE_FLAG, *args]
            shim = srun_shim(os.path.join(log_dir, "bin"))
            options["env"]["PATH"] = shim + os.pathsep + options["env"]["PATH"]
        with open(os.path.join(log_dir, f"process_{index}.log"), "w") as log:
            started.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **options))
    return started


def wait_all(started, timeout: float = 300) -> list[int]:
    """The processes' exit codes; every one still running after `timeout` seconds is killed (a hang fails
    the test instead of stalling the suite) and reported as None."""
    codes = []
    for process in started:
        try:
            codes.append(process.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            codes.append(None)
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
    return codes


def tiny_config(method, fashion_dir, steps=None, options="", **train_overrides):
    """configs/<method>.py's tiny run on the miniature Fashion-MNIST (drop path on a ViT) for `steps` steps, or
    the tiny preset's when None; `train_overrides` set more keys of config.train. The online evaluation runs
    at the run's last step only (the tiny preset's every 2 steps: tests/test_train.py's command line)."""
    config = importlib.import_module(f"configs.{method}").get_config(
        ",".join(filter(None, ("dataset=fashion_mnist,tiny=1", options)))
    )
    config.data.manual_dir = fashion_dir
    config.eval.every_steps = LAST_STEP_ONLY
    if steps is not None:
        config.train.steps = steps
    config.train.update(train_overrides)
    if config.model.backbone.startswith("vit"):
        config.model.drop_path = 0.2
    return config


def read_metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def checkpoint_steps(workdir):
    return sorted(int(name) for name in os.listdir(os.path.join(workdir, "checkpoints")) if name.isdigit())


def assert_same_tree(a, b):
    for x, y in zip(jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b)), strict=True):
        np.testing.assert_array_equal(x, y)


def executables_of_a_run(exp, num_steps: int) -> int:
    """How many executables the run's compiled step needed for `num_steps` steps from a fresh state: 1 unless
    a call retraced (new shapes, dtypes, weak types) or recompiled (output shardings that differ from the
    input's). jit's cache count is private API, and the only direct view of recompiles."""
    layout = run_state.state_layout(exp)
    train_step = run_state.compile_train_step(exp, layout)
    state = run_state.create_state(exp, layout)
    for batch in batch_streams.train_batches(exp, start_step=0, num_steps=num_steps):
        state, _ = train_step(state, sharding.to_global(batch, exp.mesh))
    assert int(state.step) == num_steps
    return train_step._cache_size()


def saved_run(config, workdir, far_from_init: bool = True):
    """A checkpoint of the config's network whose BatchNorm statistics and scales are far from their initial values
    (so that a wrong layout or a dropped statistic changes the features), without training; far_from_init=False
    saves its initialisation as it is."""
    exp = experiment.prepare(config)
    state = run_state.create_state(exp, run_state.state_layout(exp))
    rng = np.random.default_rng(0)

    def statistic(path, x):
        draw = rng.normal(0, 0.05, x.shape) if path[-1].key == "mean" else rng.uniform(0.8, 1.2, x.shape)
        return jnp.asarray(draw, x.dtype)

    def moved(path, x):
        if path[-1].key == "scale":
            return jnp.asarray(rng.uniform(0.5, 1.5, x.shape), x.dtype)
        return x + jnp.asarray(rng.normal(0, 0.02, x.shape), x.dtype)

    if far_from_init:
        state = state.replace(
            batch_stats=jax.tree_util.tree_map_with_path(statistic, state.batch_stats),
            params=jax.tree_util.tree_map_with_path(moved, state.params),
        )
    checkpointer = Checkpointer(workdir, keep=None, identity=exp.identity)
    checkpointer.save(1, state)
    checkpointer.close()
    train.write_config(config, workdir)
    return exp, state


def assert_same_backbone(state, reference):
    for part in ("params", "batch_stats"):
        tree = (
            state.params["model"]["backbone"] if part == "params" else state.batch_stats.get("backbone", {})
        )
        expected = (
            reference.params["model"]["backbone"]
            if part == "params"
            else reference.batch_stats.get("backbone", {})
        )
        for a, b in zip(
            jax.tree.leaves(jax.device_get(tree)), jax.tree.leaves(jax.device_get(expected)), strict=True
        ):
            np.testing.assert_array_equal(a, b)
