"""Local files: IDX arrays (the MNIST format) and image folders."""

import gzip
import os

import numpy as np
import tensorflow as tf

from jaxssl.data.records import DatasetNotFoundError, FileSource

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX array file (plain or gzip-compressed): 2 zero bytes, a type byte, ndim, ndim big-endian
    uint32 sizes, then the data in row-major big-endian order."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            content = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"IDX file {path} is corrupt or truncated: {e}") from e
    if len(content) < 4 or content[:2] != b"\x00\x00" or content[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path} is not an IDX file: bad magic number {content[:4].hex()} (expected 0000 then "
            f"a type byte in {sorted(_IDX_DTYPES)} and the number of dimensions)"
        )
    dtype, ndim = np.dtype(_IDX_DTYPES[content[2]]), content[3]
    header_bytes = 4 + 4 * ndim
    if len(content) < header_bytes:
        raise ValueError(f"IDX file {path} is truncated inside its header")
    shape = tuple(int(size) for size in np.frombuffer(content, ">u4", count=ndim, offset=4))
    expected_bytes = header_bytes + int(np.prod(shape)) * dtype.itemsize
    if len(content) != expected_bytes:
        raise ValueError(
            f"IDX file {path} has {len(content)} bytes but its header {shape} implies "
            f"{expected_bytes}: the file is truncated or corrupt"
        )
    return np.frombuffer(content, dtype, offset=header_bytes).reshape(shape).astype(dtype.newbyteorder("="))


def find_idx(folder: str, stem: str) -> str | None:
    for candidate in (os.path.join(folder, stem), os.path.join(folder, stem + ".gz")):
        if os.path.isfile(candidate):
            return candidate
    return None


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def subfolders(folder: str) -> list[str]:
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())


def image_files(folder: str) -> list[str]:
    return sorted(
        os.path.join(folder, entry.name)
        for entry in os.scandir(folder)
        if entry.is_file() and is_image(entry.name)
    )


def list_images(folder: str, class_index: dict[str, int], channels: int) -> FileSource:
    """Images of `folder`: in class sub-folders labelled by class_index, or, when it is empty, flat with -1."""
    if not class_index:
        paths = image_files(folder)
        labels = [-1] * len(paths)
    else:
        paths, labels = [], []
        for name in subfolders(folder):
            if name not in class_index:
                raise ValueError(
                    f"class folder {name!r} in {folder} is not a class of the train split "
                    f"({sorted(class_index)})"
                )
            files = image_files(os.path.join(folder, name))
            paths += files
            labels += [class_index[name]] * len(files)
    if not paths:
        raise DatasetNotFoundError(
            f"no {'/'.join(IMAGE_EXTENSIONS)} images in {folder} (or its class folders)"
        )
    return FileSource(tuple(paths), np.asarray(labels, np.int32), channels)


def stored_shape(path: str) -> tuple[int, int, int]:
    """(H, W, C) of one image file; JPEG headers are read without decoding."""
    raw = tf.io.read_file(path)
    shape = tf.image.extract_jpeg_shape(raw) if tf.io.is_jpeg(raw) else tf.shape(tf.io.decode_png(raw))
    height, width, channels = (int(size) for size in shape.numpy())
    return height, width, channels
