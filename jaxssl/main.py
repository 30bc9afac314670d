"""The command line: python -m jaxssl.main --config=configs/<method>.py:<options> --workdir=DIR.

The only place with flags. --mode=evaluate runs the offline evaluation of DIR (its config.json unless
--config is given).
"""

import json
import logging as std_logging
import os

import jax
import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from jaxssl import evaluate, train

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, e.g. configs/simclr.py:dataset=cifar10.", lock_config=True
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for config.json, metrics.jsonl, checkpoints.", required=True
)
_MODE = flags.DEFINE_enum("mode", "train", ["train", "evaluate"], "Pretrain, or evaluate DIR offline.")
_EVAL_FEATURES = flags.DEFINE_enum(
    "eval_features",
    "network",
    list(evaluate.FEATURES),
    "evaluate: the network's backbone features, or raw pixels.",
)
_EVAL_INIT = flags.DEFINE_enum(
    "eval_init",
    "checkpoint",
    list(evaluate.INITS),
    "evaluate: the newest checkpoint, or the untrained network (a baseline).",
)
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Call jax.distributed.initialize() (multi-host GPU/TPU; SLURM is detected)."
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
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise app.UsageError(f"{path} does not exist: pass --config")
    with open(path) as f:
        return ml_collections.ConfigDict(json.load(f))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    quiet_orbax_info()
    if _DISTRIBUTED.value:
        jax.distributed.initialize()
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
    else:
        config = _CONFIG.value if _CONFIG.value is not None else saved_config(workdir)
        evaluate.evaluate(config, workdir, features=_EVAL_FEATURES.value, init=_EVAL_INIT.value)


if __name__ == "__main__":
    app.run(main)
