"""What a data source is: constants of a dataset, in-memory arrays or encoded files, and the error
raised when the data is not on the local disk."""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Constants of a dataset; image_shape is (0, 0, 3) for sources whose images vary in size."""

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_examples: int
    eval_examples: int


@dataclasses.dataclass(frozen=True)
class ArraySource:
    """A split held in memory: uint8 images (N, H, W, C) and int32 labels (N,), -1 when unlabelled."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.dtype != np.uint8 or len(self.images) != len(self.labels):
            raise ValueError(
                f"ArraySource needs uint8 images (N, H, W, C) and N labels, got images "
                f"{self.images.dtype}{self.images.shape} and {len(self.labels)} labels"
            )


@dataclasses.dataclass(frozen=True)
class FileSource:
    """A split of encoded image files (JPEG or PNG) with int32 labels (N,), -1 when unlabelled.

    channels: every file is decoded to this many channels (1 grayscale, 3 RGB) so batches have one shape.
    skipped: the folder's files left out as unreadable ('path: why'; config.data.skip_bad_files).
    """

    paths: tuple[str, ...]
    labels: np.ndarray
    channels: int = 3
    skipped: tuple[str, ...] = ()

    def __post_init__(self):
        if len(self.paths) != len(self.labels) or self.channels not in (1, 3):
            raise ValueError(
                f"FileSource needs one label per path and channels 1 or 3, got {len(self.paths)} "
                f"paths, {len(self.labels)} labels, channels={self.channels}"
            )


class DatasetNotFoundError(FileNotFoundError):
    """The data is not on the local disk; the message says exactly how to provide it."""
