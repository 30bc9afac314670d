"""Step-indexed tf.data input.

The examples of the batch of global step s and every random draw of the host (the crop of each view) are a
pure function of (seed, s): a run restarted at step s gets exactly the batches an uninterrupted run gets from
step s on, and the per-process shards of any process count concatenate to the same global batch.
"""

import functools

import numpy as np
import tensorflow as tf

from jaxssl.data import host_crops
from jaxssl.data.parts import (
    Episodes,
    Part,
    batch_rows,
    batch_soft_labels,
    check_parts,
    episode_rows,
    soft_label_classes,
)
from jaxssl.data.records import ArraySource, FileSource


def _checked_rows(rows: range | None, global_batch: int) -> range:
    """The rows of each global batch that this process feeds (all of them when None)."""
    if rows is None:
        return range(global_batch)
    if not len(rows) or rows.step != 1 or rows.start < 0 or rows.stop > global_batch:
        raise ValueError(
            f"rows {rows} must be a non-empty contiguous range inside the global batch {global_batch}"
        )
    return rows


def _step_gatherer(
    source: ArraySource | FileSource,
    *,
    parts: tuple[Part, ...],
    seed: int,
    rows: range,
    episodes: Episodes | None = None,
):
    """step -> this process's rows of the batch of `step` (of its parts, or of its episodes when given):
    labels, positions and images (or file paths)."""
    positions = tf.constant(np.asarray(rows, np.int64))
    source_labels = np.asarray(source.labels)
    hides_labels = any(part.labels is not None for part in parts)
    paths = tf.constant(source.paths, tf.string) if isinstance(source, FileSource) else None

    classes = soft_label_classes(parts)
    held_types = (tf.int64, tf.int32) + ((tf.float32,) if classes else ())

    def rows_of(step):
        """This process's (indices, labels[, soft labels]) of the batch of `step`, in one host call."""
        if episodes is None:
            held = batch_rows(step, parts=parts, labels=source_labels, seed=seed)
        else:
            held = episode_rows(step, episodes=episodes, labels=source_labels, seed=seed)
        if classes:
            soft = batch_soft_labels(
                step, parts=parts, num_examples=len(source_labels), num_classes=classes, seed=seed
            )
            held = (*held, soft)
        return tuple(array[rows.start : rows.stop] for array in held)

    def gather(step):
        indices, labels, *soft = tf.numpy_function(rows_of, [step], held_types, stateful=False)
        indices = tf.ensure_shape(indices, [len(rows)])
        example = {
            "step": tf.fill([len(rows)], step),
            "position": positions,
            "label": tf.ensure_shape(labels, [len(rows)]),
            "index": tf.cast(indices, tf.int32),
        }
        if classes:
            example["soft_label"] = tf.ensure_shape(soft[0], [len(rows), classes])
        if hides_labels:
            example["true_label"] = tf.gather(tf.constant(source_labels, tf.int32), indices)
        if paths is not None:
            example["path"] = tf.gather(paths, indices)
        else:
            images = tf.numpy_function(lambda i: source.images[i], [indices], tf.uint8, stateful=False)
            example["image"] = tf.ensure_shape(images, (len(rows),) + source.images.shape[1:])
        return example

    return gather


def train_dataset(
    source: ArraySource | FileSource,
    *,
    global_batch: int,
    seed: int,
    start_step: int,
    num_steps: int,
    rows: range | None = None,
    host_crop: int | None = None,
    crop_scales: tuple[tuple[float, float], ...] = ((0.08, 1.0), (0.08, 1.0)),
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
    prefetch: int = 2,
    parts: tuple[Part, ...] | None = None,
    episodes: Episodes | None = None,
) -> tf.data.Dataset:
    """Batches of steps start_step .. num_steps - 1: {"image": uint8 (B_local, V, H, W, C), "label": int32,
    "index": int32 position of each example in `source`} (and "true_label", the source's labels, where a
    part shows other labels; "soft_label", float32 (B_local, classes), where a part carries soft labels).

    This process feeds `rows` of each global batch (B_local = len(rows); all rows when None: on a pod,
    jaxssl.sharding.process_rows, the rows its devices hold). host_crop None: V == 1, images as stored (ArraySource
    only; crop_scales unused). host_crop S: V == len(crop_scales) random resized crops per example, view v of
    area fraction in crop_scales[v], all sharing crop_ratio. Every view is cropped to S x S, small multi-crop
    views too, since the batch is one array: the device resizes each view to its own size. parts: the blocks
    of each global batch (`Part`); None is one part of the whole source, with its own labels. episodes: every
    global batch as N-way K-shot episodes of the source's classes instead (`Episodes`; no parts then).
    """
    rows = _checked_rows(rows, global_batch)
    if episodes is not None and (parts is not None or episodes.batch != global_batch):
        raise ValueError(
            f"a batch of episodes is the whole global batch, without parts: got episodes of {episodes.batch} "
            f"rows for a batch of {global_batch}" + (" and parts" if parts is not None else "")
        )
    parts = (Part(global_batch),) if parts is None else tuple(parts)
    check_parts(parts, global_batch, len(source.labels))
    if host_crop is None and isinstance(source, FileSource):
        raise ValueError(
            "a FileSource has images of varying size: pass host_crop=S to crop every view to S x S"
        )
    if not 0 <= start_step <= num_steps:
        raise ValueError(
            f"need 0 <= start_step <= num_steps, got start_step={start_step}, num_steps={num_steps}"
        )
    scales = host_crops.checked_scales(crop_scales)
    gather = _step_gatherer(source, parts=parts, seed=seed, rows=rows, episodes=episodes)
    steps = tf.data.Dataset.range(start_step, num_steps)
    parallel = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
    if host_crop is None:
        batches = steps.map(lambda step: _single_view(gather(step)), **parallel)
    else:
        crop_views = functools.partial(
            host_crops.crop_views,
            seed=seed,
            size=host_crop,
            scales=scales,
            ratio=crop_ratio,
            channels=_channels(source),
        )

        def crop(example):
            return {"image": crop_views(example), **_labels_and_index(example)}

        examples = steps.map(gather, **parallel).unbatch().map(crop, **parallel)
        batches = examples.batch(len(rows), drop_remainder=True)
    return batches.prefetch(prefetch)


def _single_view(example: dict) -> dict:
    return {"image": example["image"][:, None], **_labels_and_index(example)}


def _labels_and_index(example: dict) -> dict:
    """What a batch carries besides its images: the shown labels, the rows' indices, the labels a part hides
    ("true_label", only where one does), which never reach the loss: the step measures its pseudo-labels
    against them; and the parts' soft labels ("soft_label", only where one carries them)."""
    return {name: example[name] for name in ("label", "index", "true_label", "soft_label") if name in example}


def _channels(source: ArraySource | FileSource) -> int:
    return source.channels if isinstance(source, FileSource) else source.images.shape[-1]


def eval_dataset(
    source: ArraySource | FileSource,
    *,
    batch_size: int,
    rows: range | None = None,
    host_resize: int | None = None,
) -> tf.data.Dataset:
    """One pass in stored order: {"image": uint8 (B_local, 1, H, W, C), "label": int32, "mask": bool}.

    batch_size is the global batch; every process yields ceil(N / batch_size) batches of its `rows` (all when
    None). The last
    global batch is padded with copies of the last example, marked mask False. host_resize S: the standard
    central crop of S x S (required for a FileSource).
    """
    rows = _checked_rows(rows, batch_size)
    if host_resize is None and isinstance(source, FileSource):
        raise ValueError(
            "a FileSource has images of varying size: pass host_resize=S for the S x S eval crop"
        )
    num_examples = len(source.labels)
    num_batches = -(-num_examples // batch_size)
    positions = np.arange(num_batches)[:, None] * batch_size + np.asarray(rows)[None, :]
    indices = np.minimum(positions, num_examples - 1)
    records = {
        "index": indices,
        "label": source.labels[indices].astype(np.int32),
        "mask": positions < num_examples,
    }
    load = _eval_loader(source, host_resize=host_resize, local_batch=len(rows))

    def to_batch(record):
        return {"image": load(record["index"])[:, None], "label": record["label"], "mask": record["mask"]}

    batches = tf.data.Dataset.from_tensor_slices(records)
    batches = batches.map(to_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return batches.prefetch(tf.data.AUTOTUNE)


def _eval_loader(source: ArraySource | FileSource, *, host_resize: int | None, local_batch: int):
    """indices (B_local,) -> uint8 images (B_local, H, W, C), as stored or central-cropped to host_resize."""
    if isinstance(source, FileSource):
        paths = tf.constant(source.paths, tf.string)

        def load_one(index):
            image = tf.io.decode_image(
                tf.io.read_file(paths[index]), channels=source.channels, expand_animations=False
            )
            return host_crops.central_crop(image, host_resize)

        return lambda indices: tf.ensure_shape(
            tf.map_fn(load_one, indices, fn_output_signature=tf.uint8),
            (local_batch, host_resize, host_resize, source.channels),
        )

    def gather(indices):
        images = tf.numpy_function(lambda i: source.images[i], [indices], tf.uint8, stateful=False)
        return tf.ensure_shape(images, (local_batch,) + source.images.shape[1:])

    if host_resize is None:
        return gather
    return lambda indices: tf.ensure_shape(
        host_crops.central_crop(gather(indices), host_resize),
        (local_batch, host_resize, host_resize, source.images.shape[-1]),
    )


def as_numpy(ds: tf.data.Dataset):
    """Iterator of dicts of numpy arrays."""
    return ds.as_numpy_iterator()
