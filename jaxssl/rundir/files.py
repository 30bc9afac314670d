"""The names of a run directory's files; the two ways a file is written there: whole or not at all
(`written_whole`), and beside earlier files rather than over them (`free_path`); and its config read back.

  DIR/config.json              the resolved config (a different earlier one kept as config.<n>.json)
  DIR/metrics.jsonl            training's metric lines (rundir/metrics.py), appended
  DIR/offline_eval.jsonl       one line per offline evaluation protocol, appended
  DIR/tensorboard/             the same metrics as TensorBoard events
  DIR/checkpoints/<step>/      the TrainState and the run's identity (rundir/checkpoint.py)
  DIR/checkpoints_unreadable/  checkpoints that could not be read, set aside
  DIR/lock                     held by the process that trains in DIR (rundir/lock.py)
  DIR/skipped_files.txt        the image folder's unreadable files, when the run skips them
  DIR/pseudo_labels.npz        a Noisy Student's or a distilled student's teacher predictions (teacher.py)
  DIR/finetuned/               the finetune protocol's predictions on the training split, a distillation's
                               teacher (evaluation/trained.py, config.eval.finetune_predictions)
  DIR/protocols_in_progress/   linear_sgd's and finetune's training while it runs or after a preemption,
                               removed once its record is written (evaluation/resumable.py)
  DIR/plots/                   the figures of offline evaluation
  DIR/export/                  exported weights (weights/export.py)
"""

import contextlib
import json
import os

import ml_collections

from jaxssl.rundir import jsonl

CONFIG = "config.json"
METRICS = "metrics.jsonl"
OFFLINE_EVAL = "offline_eval.jsonl"
RECORD_FILES = (CONFIG, METRICS, OFFLINE_EVAL)  # what a run learned; a report reads these alone
TENSORBOARD = "tensorboard"
CHECKPOINTS = "checkpoints"
UNREADABLE_CHECKPOINTS = "checkpoints_unreadable"
LOCK = "lock"
SKIPPED_FILES = "skipped_files.txt"
PSEUDO_LABELS = "pseudo_labels.npz"
FINETUNED = "finetuned"
PROTOCOLS_IN_PROGRESS = "protocols_in_progress"
PLOTS = "plots"
EXPORT = "export"


@contextlib.contextmanager
def written_whole(path: str, mode: str = "w"):
    """A file open for writing whose content becomes `path` when the body ends, in one step: a reader sees the
    old file or the whole new one, and a kill leaves no half-written file. It is written to path.tmp in the
    same directory (os.replace is atomic within a filesystem), flushed to disk before the rename, and
    removed when the body raises."""
    temporary = path + ".tmp"
    try:
        with open(temporary, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def free_path(directory: str, stem: str, *extensions: str, separator: str = "_") -> str:
    """directory/stem.<extensions[0]>, or stem_1, stem_2, ... (stem<separator><n>) while a file of that name
    exists with any of `extensions` (the others name files written beside it): a file written there never
    replaces an earlier one."""
    name, index = stem, 0
    while any(os.path.exists(os.path.join(directory, f"{name}.{extension}")) for extension in extensions):
        index += 1
        name = f"{stem}{separator}{index}"
    return os.path.join(directory, f"{name}.{extensions[0]}")


def earlier_config_path(workdir: str) -> str:
    """DIR/config.<n>.json with the first n >= 1 that is free: where DIR/config.json, which is there, goes
    when a run writes a different one."""
    stem, extension = CONFIG.rsplit(".", 1)
    return free_path(workdir, stem, extension, separator=".")


def figure_path(workdir: str, name: str) -> str:
    """DIR/plots/<name>.png, or <name>_1.png, _2... rather than overwrite an earlier figure."""
    return free_path(os.path.join(workdir, PLOTS), name, "png")


def read_config(path: str) -> dict:
    """A run's config.json as a dict ({} when absent); a file that does not parse is an error naming it."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        try:
            return json.load(f)
        except ValueError as error:
            raise jsonl.MalformedRecordError(f"{path} is not a readable config ({error})") from None


def run_config(run_dir: str, named_by: str, hint: str = "") -> ml_collections.ConfigDict:
    """The config a run saved (DIR/config.json), for a run that another one names (`named_by`, the key naming
    it): FileNotFoundError, with `hint`, when DIR holds no run."""
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{named_by}={run_dir!r} holds no run ({path} does not exist){hint}")
    return ml_collections.ConfigDict(read_config(path))
