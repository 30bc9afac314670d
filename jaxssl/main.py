"""The command line: python -m jaxssl.main --config=configs/<method>.py:<options> --workdir=DIR.

The only place with training flags. --mode=evaluate runs offline evaluation protocols on DIR (its
config.json unless --config is given): --protocol=knn,linear_lbfgs,health (the default; --help lists every
protocol, jaxssl/evaluation/registry.py describes them); --label_fraction=0.01 for the 1 % protocols;
--eval_init=random for the untrained network (with finetune: the supervised baseline); --eval_features=pixels
for raw pixels.

--mode=export writes DIR's newest backbone (and probe) for PyTorch: --format=safetensors|npz,
--naming=torchvision|timm|native, --weights=evaluated|online|target (jaxssl/weights/export.py).

--distributed starts a multi-process job (one process per host; SLURM, TPU pods and Open MPI are detected,
other clusters pass --coordinator_address, --num_processes and --process_id); each process waits up to
--distributed_timeout seconds for the others.

Training stops on Ctrl-C after saving the current step, with exit status 130 (stop.StopRequest), and on a
write into DIR that fails, in one line with exit status 1 (jaxssl/rundir/write_errors.py). The supervised
protocols' training (linear_sgd, finetune) stops the same way, and on SIGTERM with exit status 0, without a
record: the same command resumes it (jaxssl/evaluation/resumable.py).

A refusal (a flag, config option or override that cannot be honoured, a config file that does not exist, a
run directory that another run holds, a starting point that does not fit) is one line on stderr,
`error: <what was given, what is allowed>`, with exit status 1, before anything is compiled, written or
created (jaxssl/cli/refusals.py). The environment variable JAXSSL_TRACEBACK=1 shows the Python traceback
instead.
"""

import atexit
import gc
import logging as std_logging
import os
import signal
import sys

import jax
import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from jaxssl import stop, train, validate
from jaxssl.cli import distributed, refusals
from jaxssl.evaluation import registry, runner
from jaxssl.rundir import files, jsonl, write_errors
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
    "weights",
    "evaluated",
    list(export.WEIGHTS),
    "export: the weights the run's evaluation reads (the EMA target for I-JEPA, MSN, the EMA-evaluated "
    "semi-supervised methods and the supervised baseline, else the online network), the online network, or the "
    "EMA target.",
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
_DISTRIBUTED_TIMEOUT = flags.DEFINE_integer(
    "distributed_timeout",
    300,
    "distributed: seconds to wait for every process to reach the coordinator (JAX ends the process after it).",
    lower_bound=1,
)
_COMPILATION_CACHE = flags.DEFINE_string(
    "compilation_cache", "", "Directory of JAX's persistent compilation cache (off when empty)."
)

# What a Ctrl-C before the first step leaves: it saved nothing, so a rerun starts where the newest checkpoint is.
SIGINT_BEFORE_THE_LOOP = "nothing new was saved, and the same command starts again from the newest checkpoint"


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


def skip_the_final_garbage_collection() -> None:
    """At exit, CPython's last garbage collection walks every object that TensorFlow, JAX and XLA created:
    about 3 s for a tiny run on a 2-core CPU, after everything is written. Records, checkpoints, metrics and
    logs are all closed explicitly before, so at exit the objects still alive are frozen (gc.freeze) and that
    walk is skipped."""
    atexit.register(gc.freeze)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    quiet_orbax_info()
    initialize = distributed.distributed_options(
        _DISTRIBUTED.value, _COORDINATOR_ADDRESS.value, _NUM_PROCESSES.value, _PROCESS_ID.value
    )
    if _MODE.value == "train":
        if _CONFIG.value is None:
            raise app.UsageError("--config is required to train")
        validate.check_config(_CONFIG.value)  # before JAX starts: a refused config compiles nothing
    if initialize is not None:
        distributed.start_distributed(initialize, _DISTRIBUTED_TIMEOUT.value)
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
        try:
            train.run(_CONFIG.value, workdir)
        except stop.Interrupted:
            return 128 + signal.SIGINT
        except KeyboardInterrupt:  # before the first step: loading, restoring or compiling
            print(f"SIGINT before the first step: stopped; {SIGINT_BEFORE_THE_LOOP}", file=sys.stderr)
            return 128 + signal.SIGINT
        except write_errors.WriteFailedError as error:
            raise SystemExit(f"error: {error}") from None
    elif _MODE.value == "export":
        config = _CONFIG.value if _CONFIG.value is not None else saved_config(workdir)
        path = export.export(
            config, workdir, format=_FORMAT.value, naming=_NAMING.value, weights=_WEIGHTS.value
        )
        print(f"exported to {path} (metadata beside it, .json)")
    else:
        config = _CONFIG.value if _CONFIG.value is not None else saved_config(workdir)
        try:
            runner.evaluate(
                config,
                workdir,
                protocols=tuple(_PROTOCOL.value),
                features=_EVAL_FEATURES.value,
                init=_EVAL_INIT.value,
                label_fraction=_LABEL_FRACTION.value,
            )
        except stop.Preempted:  # its training saved: the same command resumes it
            return 0
        except stop.Interrupted:
            return 128 + signal.SIGINT


if __name__ == "__main__":
    skip_the_final_garbage_collection()
    app.run(refusals.one_line_refusals(main), flags_parser=refusals.one_line_refusals(refusals.parse_flags))
