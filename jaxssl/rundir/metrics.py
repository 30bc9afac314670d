"""Metric lines to DIR/metrics.jsonl (appended, never rewritten) and TensorBoard events."""

import math
import os

import numpy as np

from jaxssl.data.tensorflow_import import tf  # TensorBoard event files; TF is already the input's dependency
from jaxssl.rundir import files, jsonl


class MetricWriter:
    """One JSON object per line with "step" and "split"; the same scalars as TensorBoard summaries.
    Only process 0 writes."""

    def __init__(self, workdir: str, *, enabled: bool):
        self.enabled = enabled
        self.path = os.path.join(workdir, files.METRICS)
        self.summary_writer = None
        if enabled:
            self.summary_writer = tf.summary.create_file_writer(os.path.join(workdir, files.TENSORBOARD))

    def write(self, step: int, split: str, scalars: dict) -> None:
        if not self.enabled:
            return
        values = {name: float(value) for name, value in scalars.items()}
        jsonl.append(self.path, [{"step": int(step), "split": split, **values}])
        with self.summary_writer.as_default(step=int(step)):
            for name, value in values.items():
                if math.isfinite(value):
                    tf.summary.scalar(f"{split}/{name}", value)
        self.summary_writer.flush()


def mean_over_steps(step_metrics: list[dict]) -> dict:
    """Per-name mean of the scalars of several steps (host numpy values)."""
    return {name: float(np.mean([m[name] for m in step_metrics])) for name in step_metrics[0]}
