"""Metric lines to DIR/metrics.jsonl (appended, never rewritten) and TensorBoard events."""

import contextlib
import math
import os

import numpy as np

from jaxssl.data import tensorflow_import
from jaxssl.data.tensorflow_import import tf  # TensorBoard event files; TF is already the input's dependency
from jaxssl.rundir import files, jsonl


@contextlib.contextmanager
def tensorboard_writes(directory: str):
    """TensorBoard's writes into `directory`: one that fails (a full disk) is an OSError naming the directory
    with TensorFlow's reason, without the C++ warnings TensorFlow logs about it."""
    try:
        with tensorflow_import.stderr_below_level_removed(max(tensorflow_import.min_log_level(), 2)):
            yield
    except tf.errors.OpError as error:
        reason = error.message.splitlines()[0].rpartition("; ")[2]
        raise OSError(None, reason, directory) from error


class MetricWriter:
    """One JSON object per line with "step" and "split"; the same scalars as TensorBoard summaries.
    Only process 0 writes."""

    def __init__(self, workdir: str, *, enabled: bool):
        self.enabled = enabled
        self.path = os.path.join(workdir, files.METRICS)
        self.summary_writer = None
        self.tensorboard = os.path.join(workdir, files.TENSORBOARD)
        if enabled:
            with tensorboard_writes(self.tensorboard):
                self.summary_writer = tf.summary.create_file_writer(self.tensorboard)

    def write(self, step: int, split: str, scalars: dict) -> None:
        if not self.enabled:
            return
        values = {name: float(value) for name, value in scalars.items()}
        jsonl.append(self.path, [{"step": int(step), "split": split, **values}])
        with tensorboard_writes(self.tensorboard), self.summary_writer.as_default(step=int(step)):
            for name, value in values.items():
                if math.isfinite(value):
                    tf.summary.scalar(f"{split}/{name}", value)
            self.summary_writer.flush()


def mean_over_steps(step_metrics: list[dict]) -> dict:
    """Per-name mean of the scalars of several steps (host numpy values)."""
    return {name: float(np.mean([m[name] for m in step_metrics])) for name in step_metrics[0]}
