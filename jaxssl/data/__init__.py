"""Host-side input on tf.data: sources (TFDS, IDX files, image folders) and step-indexed pipelines.

TensorFlow is imported first, by tensorflow_import (without Keras, off the accelerators).
"""

from jaxssl.data import tensorflow_import  # noqa: F401  (first, on purpose)
from jaxssl.data.files import read_idx
from jaxssl.data.parts import example_indices
from jaxssl.data.pipeline import as_numpy, eval_dataset, train_dataset
from jaxssl.data.records import ArraySource, DatasetInfo, DatasetNotFoundError, FileSource
from jaxssl.data.sources import DATASETS, load, network_available

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
