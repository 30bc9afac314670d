"""Crops made on the host, in tf.data: training's random resized crops (of stored images or of encoded files,
a JPEG decoding only its crop) and evaluation's central crop. Every draw is stateless, keyed by its caller."""

import tensorflow as tf

MAX_CROP_ATTEMPTS = 100
EVAL_CENTRAL_FRACTION = 0.875


def to_uint8(image: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def crop_window(
    image_shape: tf.Tensor, key: tf.Tensor, scale: tuple[float, float], ratio: tuple[float, float]
) -> tuple[tf.Tensor, tf.Tensor]:
    """(begin, size) of a random resized crop (Szegedy et al. 2015, "Going deeper with convolutions"): area a
    fraction in `scale` of the image, aspect ratio in `ratio`; the whole image when no draw fits."""
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        image_shape,
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=key,
        min_object_covered=0.0,
        aspect_ratio_range=ratio,
        area_range=scale,
        max_attempts=MAX_CROP_ATTEMPTS,
        use_image_if_no_bounding_boxes=True,
    )
    return begin, size


def crop_encoded(
    raw: tf.Tensor, key: tf.Tensor, *, channels: int, scale: tuple[float, float], ratio: tuple[float, float]
) -> tf.Tensor:
    """A random crop of an encoded image; a JPEG decodes only the crop."""

    def jpeg_crop():
        begin, size = crop_window(tf.image.extract_jpeg_shape(raw), key, scale, ratio)
        window = tf.stack([begin[0], begin[1], size[0], size[1]])
        return tf.image.decode_and_crop_jpeg(raw, window, channels=channels)

    def png_crop():
        image = tf.io.decode_png(raw, channels=channels)
        return tf.slice(image, *crop_window(tf.shape(image), key, scale, ratio))

    return tf.cond(tf.io.is_jpeg(raw), jpeg_crop, png_crop)


def crop_views(
    example: dict,
    *,
    seed: int,
    size: int,
    scales: tuple[tuple[float, float], ...],
    ratio: tuple[float, float],
    channels: int,
) -> tf.Tensor:
    """uint8 (V, size, size, channels): one random resized crop per entry of `scales` (its area range) of one
    example (its "image", or the encoded file at its "path"); view v is keyed by (seed, "step", "position",
    v), so its crop does not depend on the other views' scales."""
    example_key = tf.random.experimental.stateless_fold_in(
        tf.stack([tf.constant(seed, tf.int64), example["step"]]), example["position"]
    )
    raw = tf.io.read_file(example["path"]) if "path" in example else None
    views = []
    for view, scale in enumerate(scales):
        key = tf.random.experimental.stateless_fold_in(example_key, view)
        if raw is not None:
            crop = crop_encoded(raw, key, channels=channels, scale=scale, ratio=ratio)
        else:
            crop = tf.slice(example["image"], *crop_window(tf.shape(example["image"]), key, scale, ratio))
        views.append(tf.image.resize(crop, (size, size), method="bicubic", antialias=True))
    return tf.ensure_shape(to_uint8(tf.stack(views)), (len(scales), size, size, channels))


def checked_scales(crop_scales) -> tuple[tuple[float, float], ...]:
    """crop_scales as a tuple of float pairs (lo, hi) with 0 < lo <= hi <= 1, at least one."""
    scales = tuple(tuple(float(bound) for bound in scale) for scale in crop_scales)
    if not scales or any(len(scale) != 2 or not 0.0 < scale[0] <= scale[1] <= 1.0 for scale in scales):
        raise ValueError(
            f"crop_scales must hold one area range (lo, hi) with 0 < lo <= hi <= 1 per view, at least one; "
            f"got {crop_scales!r}"
        )
    return scales


def central_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """Standard evaluation crop: resize the shorter side to size / 0.875, then take the central size x size."""
    height, width = tf.shape(image)[-3], tf.shape(image)[-2]
    scale = size / EVAL_CENTRAL_FRACTION / tf.cast(tf.minimum(height, width), tf.float64)
    resized_hw = tf.cast(tf.round(tf.cast(tf.stack([height, width]), tf.float64) * scale), tf.int32)
    resized_hw = tf.maximum(resized_hw, size)
    resized = tf.image.resize(image, resized_hw, method="bicubic", antialias=True)
    top, left = (resized_hw[0] - size) // 2, (resized_hw[1] - size) // 2
    return to_uint8(resized[..., top : top + size, left : left + size, :])
