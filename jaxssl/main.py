"""The command line: python -m jaxssl.main --config=configs/<method>.py:<options> --workdir=DIR.

The only place with training flags. --mode=evaluate runs offline evaluation protocols on DIR (its
config.json unless --config is given): --protocol=knn,linear_lbfgs,health (the default; --help lists every
protocol, jaxssl/evaluation/registry.py describes them); --label_fraction=0.01 for the 1 % protocols;
--eval_init=random for the untrained network (with finetune: the supervised baseline); --eval_features=pixels
for raw pixels.

--mode=export writes DIR's newest backbone (and probe) for PyTorch: --format=safetensors|npz,
--naming=torchvision|timm|native, --weights=online|target (jaxssl/weights/export.py).

--distributed starts a multi-process job (one process per host; SLURM, TPU pods and Open MPI are detected,
other clusters pass --coordinator_address, --num_processes and --process_id).
"""

import logging as std_logging
import os
import sys

import jax
import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from jaxssl import train
from jaxssl.evaluation import registry, runner
from jaxssl.rundir import files, jsonl
from jaxssl.weights import export

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, e.g. configs/simclr.py:dataset=cifar10.", lock_config=True
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for config.json, metrics.jsonl, checkpoints.", required=True
)
_MODE = flags.DEFINE_enum(
    "mode", "train", ["train", "evaluate", "export"], "Pretrain, evaluate DIR offline, or export its weights."
)
_FORMAT = flags.DEFINE_enum("format", "safetensors", list(export.FORMATS), "export: the file format.")
_NAMING = flags.DEFINE_enum(
    "naming",
    "torchvision",
    list(export.NAMINGS),
    "export: torchvision's ResNet names, timm's ViT names, or jaxssl's own.",
)
_WEIGHTS = flags.DEFINE_enum(
    "weights", "online", list(export.WEIGHTS), "export: the online network, or the EMA target."
)
_EVAL_FEATURES = flags.DEFINE_enum(
    "eval_features",
    "network",
    list(registry.FEATURES),
    "evaluate: the network's backbone features, or raw pixels.",
)
_EVAL_INIT = flags.DEFINE_enum(
    "eval_init",
    "checkpoint",
    list(registry.INITS),
    "evaluate: the newest checkpoint, or the untrained network (a baseline).",
)
_PROTOCOL = flags.DEFINE_list(
    "protocol",
    list(registry.DEFAULT_PROTOCOLS),
    f"evaluate: comma-separated protocols, from {list(registry.PROTOCOLS)} (see jaxssl/evaluation/registry.py).",
)
_LABEL_FRACTION = flags.DEFINE_float(
    "label_fraction",
    1.0,
    "evaluate: the fraction of training labels the protocols use (0.01, 0.1: class-balanced, nested subsets "
    "from config.eval.label_seed; ImageNet's standard lists).",
)
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed",
    False,
    "Call jax.distributed.initialize(), which detects SLURM, TPU pods and Open MPI; for other clusters give "
    "--coordinator_address, --num_processes and --process_id.",
)
_COORDINATOR_ADDRESS = flags.DEFINE_string(
    "coordinator_address", None, "distributed: host:port of process 0's coordinator (with the next two)."
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "distributed: how many processes the job has.")
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "distributed: this process's index, 0 .. num_processes - 1."
)
_COMPILATION_CACHE = flags.DEFINE_string(
    "compilation_cache", "", "Directory of JAX's persistent compilation cache (off when empty)."
)


def quiet_orbax_info() -> None:
    """Orbax logs every save step at INFO through absl; keep its warnings, drop the rest."""
    logging.get_absl_handler().addFilter(
        lambda record: record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname
    )


def saved_config(workdir: str) -> ml_collections.ConfigDict:
    path = os.path.join(workdir, files.CONFIG)
    if not os.path.exists(path):
        raise app.UsageError(f"{path} does not exist: pass --config")
    try:
        return ml_collections.ConfigDict(files.read_config(path))
    except jsonl.MalformedRecordError as error:
        raise app.UsageError(f"{error}; pass the run's --config=configs/<method>.py:<options>") from None


def config_package_root(argv: list[str]) -> str | None:
    """The folder holding the --config file's package (the repository root for configs/simclr.py), so that
    the config's `from configs import common` resolves from any working directory; None without --config."""
    for index, arg in enumerate(argv):
        if arg.startswith("--config="):
            value = arg.removeprefix("--config=")
        elif arg == "--config" and index + 1 < len(argv):
            value = argv[index + 1]
        else:
            continue
        return os.path.dirname(os.path.dirname(os.path.abspath(value.partition(":")[0])))
    return None


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with an override of a key the config does not have (--config.train.bacth_size=8)
    reported in one line with ml_collections' suggestion rather than as three chained tracebacks. The
    config file's package root goes first on sys.path (config_package_root)."""
    root = config_package_root(argv)
    if root is not None and root not in sys.path:
        sys.path.insert(0, root)
    try:
        return flags.FLAGS(argv)
    except (AttributeError, KeyError) as error:
        message = str(error).strip("'\"").replace("\\'", "'").replace("\\n", " ")
        overrides = [arg for arg in argv[1:] if arg.startswith("--config.")]
        raise SystemExit(f"error: no such config key in {' '.join(overrides)}: {message}") from None


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


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    quiet_orbax_info()
    initialize = distributed_options(
        _DISTRIBUTED.value, _COORDINATOR_ADDRESS.value, _NUM_PROCESSES.value, _PROCESS_ID.value
    )
    if initialize is not None:
        jax.distributed.initialize(**initialize)
    if _COMPILATION_CACHE.value:
        jax.config.update("jax_compilation_cache_dir", _COMPILATION_CACHE.value)
    logging.info(
        "process %d/%d, %d local / %d global devices",
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
    )
    workdir = _WORKDIR.value
    if _MODE.value == "train":
        if _CONFIG.value is None:
            raise app.UsageError("--config is required to train")
        train.run(_CONFIG.value, workdir)
    elif _MODE.value == "export":
        config = _CONFIG.value if _CONFIG.value is not None else saved_config(workdir)
        path = export.export(
            config, workdir, format=_FORMAT.value, naming=_NAMING.value, weights=_WEIGHTS.value
        )
        print(f"exported to {path} (metadata beside it, .json)")
    else:
        config = _CONFIG.value if _CONFIG.value is not None else saved_config(workdir)
        runner.evaluate(
            config,
            workdir,
            protocols=tuple(_PROTOCOL.value),
            features=_EVAL_FEATURES.value,
            init=_EVAL_INIT.value,
            label_fraction=_LABEL_FRACTION.value,
        )


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
