"""A multi-process start: the process flags checked together, the cluster detected from its environment and
named before each process waits for the others (jax.distributed.initialize)."""

import os

import jax
from absl import app, logging


def distributed_options(
    distributed: bool, coordinator_address: str | None, num_processes: int | None, process_id: int | None
) -> dict | None:
    """jax.distributed.initialize's arguments: None without --distributed, {} to detect the cluster from its
    environment, or the three process flags, which come together (app.UsageError when they do not fit)."""
    given = {
        "coordinator_address": coordinator_address,
        "num_processes": num_processes,
        "process_id": process_id,
    }
    named = [f"--{name}" for name, value in given.items() if value is not None]
    if not distributed:
        if named:
            raise app.UsageError(f"{named} need --distributed")
        return None
    if not named:
        return {}
    if len(named) < len(given):
        missing = [f"--{name}" for name, value in given.items() if value is None]
        raise app.UsageError(
            f"--coordinator_address, --num_processes and --process_id come together: add {missing}"
        )
    if not 0 <= process_id < num_processes:
        raise app.UsageError(f"--process_id={process_id} must lie in [0, --num_processes={num_processes})")
    return given


def detected_cluster(timeout: int) -> dict:
    """The coordinator address, process count and index that jax.distributed.initialize() detects from the
    environment (SLURM, Cloud TPU pods, Open MPI, ...; JAX_COORDINATOR_ADDRESS), found by JAX's own detection
    (the same function initialize() calls), so that they can be named before waiting; app.UsageError when
    the environment is no cluster's."""
    from jax._src import clusters  # JAX's detection has no public entry point

    address, count, index, _ = clusters.ClusterEnv.auto_detect_unset_distributed_params(
        os.environ.get("JAX_COORDINATOR_ADDRESS"), None, None, None, None, timeout
    )
    if None in (address, count, index):
        raise app.UsageError(
            "--distributed found no cluster in the environment (SLURM, a Cloud TPU pod, Open MPI, ...): "
            "elsewhere pass --coordinator_address=HOST:PORT --num_processes=N --process_id=I"
        )
    return {"coordinator_address": address, "num_processes": count, "process_id": index}


def start_distributed(options: dict, timeout: int) -> None:
    """jax.distributed.initialize with `options` (the process flags, or {} for the detected cluster), after one
    line naming what this process waits for; JAX ends the process when the others have not all arrived
    within `timeout` seconds."""
    options = options or detected_cluster(timeout)
    count = options["num_processes"]
    logging.info(
        "process %d: waiting up to %d s (--distributed_timeout) for %d process%s at %s",
        options["process_id"],
        timeout,
        count,
        "" if count == 1 else "es",
        options["coordinator_address"],
    )
    jax.distributed.initialize(**options, initialization_timeout=timeout)
