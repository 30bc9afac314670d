"""Where examples come from: in-memory arrays (TFDS, IDX files) or encoded image files (image folders).

Nothing here touches the network unless `download=True`, and then only after a 3-second connectivity probe:
an offline machine gets a DatasetNotFoundError within seconds that says how to provide the data.
"""

import dataclasses
import functools
import logging
import os
import socket
import threading

import numpy as np
import tensorflow_datasets as tfds

from jaxssl import catalog
from jaxssl.data.files import (
    FULL_DECODE_LIMIT,
    check_images,
    find_idx,
    list_images,
    read_idx,
    stored_shape,
    subfolders,
)
from jaxssl.data.records import ArraySource, DatasetInfo, DatasetNotFoundError, FileSource
from jaxssl.data.subsets import take

SPLITS = ("train", "eval")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist/"
TFDS_DOWNLOAD_HOST = "storage.googleapis.com"
_PROBE_TIMEOUT_S = 3.0
_TFDS_READ_CHUNK = 4096


def network_available(
    host: str = TFDS_DOWNLOAD_HOST, port: int = 443, timeout_s: float = _PROBE_TIMEOUT_S
) -> bool:
    """Whether a TCP connection to host:port opens within timeout_s (name resolution included)."""
    reachable = []

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                reachable.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(reachable)


def _prepared_builder(name: str, data_dir: str | None, download: bool) -> tfds.core.DatasetBuilder:
    """The TFDS builder of `name`, prepared on disk; never waits on the network when the data is absent."""
    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    root = builder.data_path.parent.parent
    how = (
        f"run once with --config.data.download=True on a machine with network access (or there: `tfds build "
        f"{name} --data_dir=DIR`), then copy the folder DIR/{name} into {root} on the machine that trains"
    )
    if not download:
        raise DatasetNotFoundError(
            f"TFDS dataset {name!r} is not prepared in data_dir {root} (looked for "
            f"{builder.data_path}) and download=False. To provide it, {how}."
        )
    if not network_available():
        raise DatasetNotFoundError(
            f"TFDS dataset {name!r} is not prepared in data_dir {root} and download=True, "
            f"but {TFDS_DOWNLOAD_HOST} is unreachable (offline). To provide it, {how}."
        )
    builder.download_and_prepare()
    return builder


def _load_tfds(
    split: str,
    *,
    info: DatasetInfo,
    tfds_splits: dict[str, str],
    data_dir: str | None,
    manual_dir: str | None,
    download: bool,
) -> tuple[ArraySource, DatasetInfo]:
    """Reads a prepared TFDS split fully into memory, in the stored (unshuffled) order.

    Read in chunks, not with batch_size=-1: that needs the split sizes in the dataset's metadata, and where they
    are missing (tfds.testing.mock_data) TFDS batches by sys.maxsize and aborts the process.
    """
    del manual_dir
    builder = _prepared_builder(info.name, data_dir, download)
    chunks = builder.as_dataset(split=tfds_splits[split], batch_size=_TFDS_READ_CHUNK, shuffle_files=False)
    chunks = list(tfds.as_numpy(chunks))
    images = np.concatenate([chunk["image"] for chunk in chunks])
    labels = np.concatenate([chunk["label"] for chunk in chunks]).astype(np.int32)
    return ArraySource(images, labels), info


def _load_fashion_mnist(
    split: str, *, info: DatasetInfo, data_dir: str | None, manual_dir: str | None, download: bool
) -> tuple[ArraySource, DatasetInfo]:
    """IDX files from manual_dir (Debian's dataset-fashion-mnist by default), else the TFDS dataset."""
    folder = manual_dir or FASHION_MNIST_DIR
    prefix = "train" if split == "train" else "t10k"
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    images_path, labels_path = (find_idx(folder, stem) for stem in stems)
    if images_path and labels_path:
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or images.dtype != np.uint8 or labels.shape != images.shape[:1]:
            raise ValueError(
                f"{images_path} {images.dtype}{images.shape} and {labels_path} {labels.shape} are not "
                "N uint8 images (N, H, W) with N labels"
            )
        return ArraySource(images[..., None], labels.astype(np.int32)), info
    try:
        return _load_tfds(
            split,
            info=info,
            tfds_splits={"train": "train", "eval": "test"},
            data_dir=data_dir,
            manual_dir=None,
            download=download,
        )
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(
            f"Fashion-MNIST IDX files {stems[0]}[.gz] and {stems[1]}[.gz] are not in {folder}: install the "
            f"Debian package dataset-fashion-mnist (files in {FASHION_MNIST_DIR}) or pass manual_dir=FOLDER "
            f"holding them. The TFDS fallback failed too: {e}"
        ) from None


def _checked(source: FileSource, skip_bad_files: bool, channels_needed: bool) -> tuple[FileSource, int]:
    """check_images before anything compiles, decoding every file where the folder is small."""
    decode = len(source.paths) <= FULL_DECODE_LIMIT
    if not decode:
        logging.info("checking the headers of %d image files", len(source.paths))
    return check_images(source, skip_bad_files=skip_bad_files, decode=decode, channels_needed=channels_needed)


def _load_imagenet(
    split: str,
    *,
    info: DatasetInfo,
    data_dir: str | None,
    manual_dir: str | None,
    download: bool,
    skip_bad_files: bool,
) -> tuple[FileSource, DatasetInfo]:
    """ILSVRC-2012 from an image folder: manual_dir/{train,val}/<wnid>/*.JPEG, labels = sorted wnid index."""
    del data_dir, download
    layout = (
        "ImageNet is read from an image folder: pass manual_dir=DIR with DIR/train/<wnid>/*.JPEG and "
        "DIR/val/<wnid>/*.JPEG, one sub-folder per class (the 1000 ILSVRC-2012 wnids, e.g. n01440764; "
        "sort the validation images into class folders with the ground-truth labels)"
    )
    folders = {s: os.path.join(manual_dir or "", sub) for s, sub in (("train", "train"), ("eval", "val"))}
    if not manual_dir or not all(os.path.isdir(folder) for folder in folders.values()):
        raise DatasetNotFoundError(f"no ImageNet folder at manual_dir={manual_dir!r}. {layout}.")
    class_index = {name: i for i, name in enumerate(subfolders(folders["train"]))}
    source, _ = _checked(list_images(folders[split], class_index, channels=3), skip_bad_files, False)
    return source, info


def _load_folder(
    split: str, *, data_dir: str | None, manual_dir: str | None, download: bool, skip_bad_files: bool
) -> tuple[FileSource, DatasetInfo]:
    """An image folder: train/ (+ test/ or val/ for eval) or flat; with class sub-folders or without. Images
    are decoded to RGB when any training file is in colour, else to grayscale (mixed folders are converted)."""
    del data_dir, download
    if not manual_dir or not os.path.isdir(manual_dir):
        raise DatasetNotFoundError(
            f"dataset 'folder' needs manual_dir=DIR, an existing image folder "
            f"(got {manual_dir!r}): DIR/train/[<class>/]*.png|jpg with optional "
            "DIR/test/ or DIR/val/ for eval, or the images directly in DIR[/<class>]"
        )
    train_folder = os.path.join(manual_dir, "train")
    if not os.path.isdir(train_folder):
        train_folder = manual_dir
    eval_folders = [os.path.join(manual_dir, sub) for sub in ("test", "val")]
    eval_folder = next((folder for folder in eval_folders if os.path.isdir(folder)), train_folder)
    class_index = {name: i for i, name in enumerate(subfolders(train_folder))}
    train, channels = _checked(list_images(train_folder, class_index, channels=3), skip_bad_files, True)
    height, width, _ = stored_shape(train.paths[0])
    train = dataclasses.replace(train, channels=channels)
    held_out = train
    if eval_folder != train_folder:
        held_out, _ = _checked(list_images(eval_folder, class_index, channels), skip_bad_files, False)
    info = DatasetInfo(
        "folder",
        len(class_index),
        (height, width, channels),
        (0.5,) * channels,
        (0.25,) * channels,
        len(train.labels),
        len(held_out.labels),
    )
    return (train if split == "train" else held_out), info


def _tfds_array_loader(info: DatasetInfo, train_split: str, eval_split: str):
    return functools.partial(_load_tfds, info=info, tfds_splits={"train": train_split, "eval": eval_split})


PUBLISHED_INFO = {name: DatasetInfo(name, **facts) for name, facts in catalog.PUBLISHED_DATASETS.items()}
DATASETS = {
    "fashion_mnist": functools.partial(_load_fashion_mnist, info=PUBLISHED_INFO["fashion_mnist"]),
    "cifar10": _tfds_array_loader(PUBLISHED_INFO["cifar10"], "train", "test"),
    "cifar100": _tfds_array_loader(PUBLISHED_INFO["cifar100"], "train", "test"),
    "stl10": _tfds_array_loader(PUBLISHED_INFO["stl10"], "unlabelled+train", "test"),
    "imagenet2012": functools.partial(_load_imagenet, info=PUBLISHED_INFO["imagenet2012"]),
    "folder": _load_folder,
}


def load(
    name: str,
    split: str,
    *,
    data_dir: str | None = None,
    manual_dir: str | None = None,
    download: bool = False,
    skip_bad_files: bool = False,
) -> tuple[ArraySource | FileSource, DatasetInfo]:
    """The `split` ("train" or "eval") of dataset `name` and its DatasetInfo.

    data_dir: the TFDS data directory (TFDS's default when None). manual_dir: local files (IDX files, image
    folders). download: let TFDS download and prepare a missing dataset (needs network). skip_bad_files:
    leave out an image folder's unreadable files (listed in the source's `skipped`) rather than refuse them.
    Info split sizes are the published ones for the named datasets and counted files for "folder".
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    options = dict(data_dir=data_dir, manual_dir=manual_dir, download=download)
    if name in catalog.IMAGE_FOLDER_DATASETS:
        options["skip_bad_files"] = skip_bad_files
    return DATASETS[name](split, **options)


def subset(source: ArraySource | FileSource, *, num_examples: int, seed: int) -> ArraySource | FileSource:
    """A fixed random subset (a function of seed) of at most num_examples examples, in stored order."""
    total = len(source.labels)
    if num_examples >= total:
        return source
    return take(source, np.sort(np.random.default_rng(seed).permutation(total)[:num_examples]))
