"""Host-side input on tf.data: sources (TFDS, IDX files, image folders) and step-indexed pipelines.

TensorFlow is kept off the accelerators at import so that it never takes their memory from JAX.
"""

import tensorflow as tf

tf.config.set_visible_devices([], "GPU")

from jaxssl.data.files import read_idx  # noqa: E402
from jaxssl.data.parts import example_indices  # noqa: E402
from jaxssl.data.pipeline import as_numpy, eval_dataset, train_dataset  # noqa: E402
from jaxssl.data.records import ArraySource, DatasetInfo, DatasetNotFoundError, FileSource  # noqa: E402
from jaxssl.data.sources import DATASETS, load, network_available  # noqa: E402

__all__ = [
    "DATASETS",
    "ArraySource",
    "DatasetInfo",
    "DatasetNotFoundError",
    "FileSource",
    "as_numpy",
    "eval_dataset",
    "example_indices",
    "load",
    "network_available",
    "read_idx",
    "train_dataset",
]
