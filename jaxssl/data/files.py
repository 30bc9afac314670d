"""Local files: IDX arrays (the MNIST format) and image folders."""

import gzip
import os

import numpy as np
import tensorflow as tf

from jaxssl.data.records import DatasetNotFoundError, FileSource

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
JPEG_MAGIC, PNG_MAGIC = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"
# Up to this many files a folder's images are decoded in full before a run (a truncated JPEG has a valid
# header); beyond it only their headers are read.
FULL_DECODE_LIMIT = 2000
HEADER_BYTES = 65536  # a JPEG's frame header (its channel count) lies after its EXIF block, within this


class BadImageFileError(ValueError):
    """Files of an image folder that cannot be read as images; each is named with why."""


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
            if not files:
                raise DatasetNotFoundError(
                    f"class folder {os.path.join(folder, name)} holds no {'/'.join(IMAGE_EXTENSIONS)} images: "
                    "add its images, or remove the folder (it would be a class without examples)"
                )
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


def jpeg_channels(head: bytes) -> int | None:
    """The number of components in a JPEG's start-of-frame segment (1 grayscale, 3 colour), or None when it is
    not within `head`: markers are walked segment by segment from after the start-of-image marker."""
    position = 2
    while position + 9 < len(head):
        if head[position] != 0xFF:
            return None
        marker = head[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return head[position + 9]
        position += 2 + int.from_bytes(head[position + 2 : position + 4], "big")
    return None


def header_channels(path: str, head_bytes: int = HEADER_BYTES) -> tuple[int | None, str | None]:
    """(stored channels, None) of a readable JPEG or PNG from its first bytes, or (None, why it is not one).
    Channels is None for a JPEG whose frame header lies beyond `head_bytes`."""
    try:
        with open(path, "rb") as f:
            head = f.read(head_bytes)
    except OSError as error:
        return None, f"unreadable ({error.strerror})"
    if not head:
        return None, "empty"
    if head.startswith(PNG_MAGIC):
        if len(head) < 26:
            return None, "a truncated PNG header"
        return (1 if head[25] in (0, 4) else 3), None  # colour type 0 gray, 4 gray + alpha
    if head.startswith(JPEG_MAGIC):
        return jpeg_channels(head), None
    return None, f"not a JPEG or PNG (it starts with bytes {head[:8].hex()})"


def decode_problem(path: str) -> str | None:
    """Why TensorFlow cannot decode the whole file, or None."""
    try:
        tf.io.decode_image(tf.io.read_file(path), expand_animations=False).numpy()
    except (tf.errors.OpError, ValueError) as error:
        return f"it does not decode ({getattr(error, 'message', str(error)).splitlines()[0]})"
    return None


def check_images(
    source: FileSource, *, skip_bad_files: bool, decode: bool, channels_needed: bool
) -> tuple[FileSource, int]:
    """(source without its bad files, which it lists as `skipped`; 3 if any file is colour, else 1).

    Every file's header is read (readable, non-empty, JPEG or PNG: its first 32 bytes, or HEADER_BYTES when
    `channels_needed`, where a JPEG's channel count lies); with `decode`, every file is decoded in full too.
    A bad file raises BadImageFileError naming it, unless skip_bad_files."""
    keep, skipped, colour = [], [], False
    head_bytes = HEADER_BYTES if channels_needed else 32
    for index, path in enumerate(source.paths):
        channels, problem = header_channels(path, head_bytes)
        if problem is None and decode:
            problem = decode_problem(path)
        if problem is not None:
            skipped.append(f"{path}: {problem}")
            continue
        keep.append(index)
        colour = colour or channels != 1  # a JPEG whose frame header was not found counts as colour
    if skipped and (not skip_bad_files or not keep):
        listed = "\n  ".join(skipped[:10]) + (
            f"\n  ... and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        )
        raise BadImageFileError(
            f"{len(skipped)} of {len(source.paths)} files of the image folder are not images this run can "
            f"read:\n  {listed}\nRemove them, or set --config.data.skip_bad_files=True to train without them "
            "(the run lists them in DIR/skipped_files.txt)"
        )
    kept = FileSource(
        tuple(source.paths[i] for i in keep),
        source.labels[np.asarray(keep, int)],
        source.channels,
        skipped=tuple(skipped),
    )
    return kept, 3 if colour else 1
