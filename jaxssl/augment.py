"""On-device image augmentation for SimCLR and BYOL, in pure JAX.

Every op works on one float32 image (H, W, C) in [0, 1] and is vmapped over the batch with one
independent key per example, so the whole pipeline runs inside a jitted training step. A `ViewSpec`
is a frozen, hashable dataclass: pass it as a static argument; output shapes depend only on it.

Pipeline order (Chen et al. 2020, appendix A; Grill et al. 2020, table 6): random resized crop,
horizontal flip, colour jitter, grayscale, Gaussian blur, solarize.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601
CROP_ATTEMPTS = 10


@dataclasses.dataclass(frozen=True)
class ViewSpec:
    """Static description of one augmented view; defaults are BYOL's shared settings."""

    size: int
    random_crop: bool = True
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_prob: float = 0.5
    jitter_prob: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    gray_prob: float = 0.2
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_prob: float = 0.0

    def __post_init__(self):
        for name in ("crop_scale", "crop_ratio", "blur_sigma"):
            object.__setattr__(self, name, tuple(float(bound) for bound in getattr(self, name)))
        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"ViewSpec.size must be a positive int, got {self.size!r}")
        for name in ("flip_prob", "jitter_prob", "gray_prob", "blur_prob", "solarize_prob"):
            _check_within(name, getattr(self, name), 0.0, 1.0)
        for name in ("brightness", "contrast", "saturation"):
            _check_within(name, getattr(self, name), 0.0, math.inf)
        _check_within("hue", self.hue, 0.0, 0.5)
        _check_interval("crop_scale", self.crop_scale, 0.0, 1.0)
        _check_interval("crop_ratio", self.crop_ratio, 0.0, math.inf)
        _check_interval("blur_sigma", self.blur_sigma, 0.0, math.inf)


def _check_within(name, value, low, high):
    if not low <= value <= high:
        raise ValueError(f"ViewSpec.{name} must lie in [{low}, {high}], got {value!r}")


def _check_interval(name, interval, low, high):
    if len(interval) != 2 or not low < interval[0] <= interval[1] <= high:
        raise ValueError(
            f"ViewSpec.{name} must be a pair (lo, hi) with {low} < lo <= hi <= {high}, got {interval!r}"
        )


def simclr_views(
    size: int, jitter_strength: float = 0.5, blur_prob: float = 0.0, min_crop_scale: float = 0.08
) -> tuple[ViewSpec, ViewSpec]:
    """Two identical SimCLR views (Chen et al. 2020, appendix A); s = 1.0 on ImageNet, 0.5 on CIFAR.
    min_crop_scale: smallest crop area fraction (0.08 in the paper; larger for tiny images)."""
    spec = ViewSpec(
        size=size,
        crop_scale=(min_crop_scale, 1.0),
        brightness=0.8 * jitter_strength,
        contrast=0.8 * jitter_strength,
        saturation=0.8 * jitter_strength,
        hue=0.2 * jitter_strength,
        blur_prob=blur_prob,
    )
    return spec, spec


def byol_views(size: int, min_crop_scale: float = 0.08) -> tuple[ViewSpec, ViewSpec]:
    """BYOL's asymmetric pair (Grill et al. 2020, table 6): always blur view 1, solarize only view 2.
    min_crop_scale: smallest crop area fraction (0.08 in the paper; larger for tiny images)."""
    crop_scale = (min_crop_scale, 1.0)
    return (
        ViewSpec(size=size, crop_scale=crop_scale, blur_prob=1.0, solarize_prob=0.0),
        ViewSpec(size=size, crop_scale=crop_scale, blur_prob=0.1, solarize_prob=0.2),
    )


VIEW_PRESETS = {"simclr": simclr_views, "byol": byol_views}


def sample_crop_box(key, height: int, width: int, scale, ratio, attempts: int = CROP_ATTEMPTS) -> jax.Array:
    """Samples an Inception-style crop box (Szegedy et al. 2015), as float32 [top, left, box_h, box_w].

    Each of `attempts` candidates draws an area fraction uniform in `scale` and an aspect ratio
    (width / height) log-uniform in `ratio`; the first candidate that fits in the image is placed
    uniformly at random. If none fits, the central crop of the whole image with its aspect ratio
    clamped to `ratio` is used. Boxes are continuous (sub-pixel), as the resampler accepts them.
    """
    area_key, ratio_key, top_key, left_key = jax.random.split(key, 4)
    area = height * width * jax.random.uniform(area_key, (attempts,), minval=scale[0], maxval=scale[1])
    log_ratio = jax.random.uniform(
        ratio_key, (attempts,), minval=math.log(ratio[0]), maxval=math.log(ratio[1])
    )
    box_heights = jnp.sqrt(area / jnp.exp(log_ratio))
    box_widths = jnp.sqrt(area * jnp.exp(log_ratio))
    fits = (box_heights <= height) & (box_widths <= width)
    first = jnp.argmax(fits)
    box_h, box_w = box_heights[first], box_widths[first]
    top = jax.random.uniform(top_key) * (height - box_h)
    left = jax.random.uniform(left_key) * (width - box_w)
    random_box = jnp.stack([top, left, box_h, box_w])
    return jnp.where(jnp.any(fits), random_box, jnp.asarray(_central_box(height, width, ratio), jnp.float32))


def _central_box(height: int, width: int, ratio) -> tuple[float, float, float, float]:
    """The largest central box of the image whose aspect ratio lies in `ratio`."""
    box_h, box_w = float(height), float(width)
    if width / height < ratio[0]:
        box_h = width / ratio[0]
    elif width / height > ratio[1]:
        box_w = height * ratio[1]
    return (height - box_h) / 2, (width - box_w) / 2, box_h, box_w


def resample_box(image, box, size: int) -> jax.Array:
    """Resamples box [top, left, box_h, box_w] of image (..., H, W, C) to (..., size, size, C).

    Antialiased bilinear resampling; the output shape is static whatever the (traced) box.
    """
    top, left, box_h, box_w = box[0], box[1], box[2], box[3]
    scale = jnp.stack([size / box_h, size / box_w])
    translation = jnp.stack([-top, -left]) * scale
    out_shape = (*image.shape[:-3], size, size, image.shape[-1])
    spatial_dims = (image.ndim - 3, image.ndim - 2)
    return jax.image.scale_and_translate(
        image, out_shape, spatial_dims, scale, translation, method="linear", antialias=True
    )


def random_resized_crop(key, image, size: int, scale, ratio) -> jax.Array:
    """Crops a random box (see `sample_crop_box`) and resizes it to size x size."""
    height, width = image.shape[0], image.shape[1]
    return resample_box(image, sample_crop_box(key, height, width, scale, ratio), size)


def resize(image, size: int) -> jax.Array:
    """Resizes the whole image (..., H, W, C) to (..., size, size, C)."""
    height, width = image.shape[-3], image.shape[-2]
    return resample_box(image, jnp.array([0.0, 0.0, height, width], jnp.float32), size)


def flip_horizontal(image) -> jax.Array:
    """Mirrors an (H, W, C) image left to right."""
    return image[:, ::-1]


def luma(image) -> jax.Array:
    """ITU-R BT.601 luma (H, W, 1) of an RGB image; a single-channel image is its own luma."""
    if image.shape[-1] == 1:
        return image
    return jnp.tensordot(image, jnp.asarray(LUMA_WEIGHTS, image.dtype), axes=1)[..., None]


def to_grayscale(image) -> jax.Array:
    """Luma replicated to the input's channel count (a no-op for C == 1)."""
    return jnp.broadcast_to(luma(image), image.shape)


def adjust_brightness(image, factor) -> jax.Array:
    """Multiplies every value by `factor`."""
    return jnp.clip(image * factor, 0.0, 1.0)


def adjust_contrast(image, factor) -> jax.Array:
    """Blends with the image's mean gray value: mean + factor * (x - mean)."""
    mean_gray = jnp.mean(luma(image))
    return jnp.clip(mean_gray + factor * (image - mean_gray), 0.0, 1.0)


def adjust_saturation(image, factor) -> jax.Array:
    """Blends with the grayscale image: gray + factor * (x - gray)."""
    gray = luma(image)
    return jnp.clip(gray + factor * (image - gray), 0.0, 1.0)


def rgb_to_hsv(rgb) -> jax.Array:
    """RGB (..., 3) in [0, 1] to HSV (..., 3), hue in [0, 1) turns; gray pixels get hue 0."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = jnp.max(rgb, axis=-1)
    chroma = value - jnp.min(rgb, axis=-1)
    saturation = jnp.where(value > 0, chroma / jnp.where(value > 0, value, 1.0), 0.0)
    safe_chroma = jnp.where(chroma > 0, chroma, 1.0)
    hue_sixths = jnp.where(
        value == red,
        jnp.mod((green - blue) / safe_chroma, 6.0),
        jnp.where(value == green, (blue - red) / safe_chroma + 2.0, (red - green) / safe_chroma + 4.0),
    )
    hue = jnp.where(chroma > 0, hue_sixths / 6.0, 0.0)
    return jnp.stack([hue, saturation, value], axis=-1)


def hsv_to_rgb(hsv) -> jax.Array:
    """HSV (..., 3) to RGB, via channel_n = v - v * s * clip(min(k, 4 - k), 0, 1), k = (n + 6h) mod 6."""
    hue, saturation, value = hsv[..., 0:1], hsv[..., 1:2], hsv[..., 2:3]
    k = jnp.mod(jnp.array([5.0, 3.0, 1.0], hsv.dtype) + 6.0 * hue, 6.0)
    return value - value * saturation * jnp.clip(jnp.minimum(k, 4.0 - k), 0.0, 1.0)


def adjust_hue(image, delta) -> jax.Array:
    """Rotates the hue of an RGB image by `delta` turns (torchvision's convention, delta in [-0.5, 0.5])."""
    hsv = rgb_to_hsv(image)
    rotated = hsv.at[..., 0].set(jnp.mod(hsv[..., 0] + delta, 1.0))
    return jnp.clip(hsv_to_rgb(rotated), 0.0, 1.0)


def color_jitter(key, image, brightness: float, contrast: float, saturation: float, hue: float) -> jax.Array:
    """Brightness, contrast, saturation and hue adjustments in a random order (torchvision-style).

    Factors are uniform in [max(0, 1 - s), 1 + s] for strength s, the hue shift uniform in [-hue, hue].
    Saturation and hue are skipped for single-channel images.
    """
    order_key, brightness_key, contrast_key, saturation_key, hue_key = jax.random.split(key, 5)

    def factor(factor_key, strength):
        return jax.random.uniform(factor_key, minval=max(0.0, 1.0 - strength), maxval=1.0 + strength)

    brightness_factor = factor(brightness_key, brightness)
    contrast_factor = factor(contrast_key, contrast)
    adjustments = [
        lambda x: adjust_brightness(x, brightness_factor),
        lambda x: adjust_contrast(x, contrast_factor),
    ]
    if image.shape[-1] == 3:
        saturation_factor = factor(saturation_key, saturation)
        hue_delta = jax.random.uniform(hue_key, minval=-hue, maxval=hue)
        adjustments += [
            lambda x: adjust_saturation(x, saturation_factor),
            lambda x: adjust_hue(x, hue_delta),
        ]
    order = jax.random.permutation(order_key, len(adjustments))
    for position in range(len(adjustments)):
        image = jax.lax.switch(order[position], adjustments, image)
    return image


def gaussian_kernel(sigma, side: int) -> jax.Array:
    """Normalised 1-D Gaussian of static odd length `side` and (possibly traced) width `sigma`."""
    offsets = jnp.arange(side, dtype=jnp.float32) - (side - 1) / 2
    weights = jnp.exp(-0.5 * jnp.square(offsets / sigma))
    return weights / jnp.sum(weights)


def blur_kernel_side(size: int) -> int:
    """About 10% of the image side, odd, at least 3 (23 for 224 px, as in SimCLR and BYOL)."""
    return 2 * max(1, int(0.1 * size) // 2) + 1


def _convolve_axis(image, weights, axis: int) -> jax.Array:
    radius = (weights.shape[0] - 1) // 2
    padding = [(0, 0)] * image.ndim
    padding[axis] = (radius, radius)
    padded = jnp.pad(image, padding, mode="reflect")
    length = image.shape[axis]
    return sum(
        weights[tap] * jax.lax.slice_in_dim(padded, tap, tap + length, axis=axis)
        for tap in range(weights.shape[0])
    )


def gaussian_blur(image, sigma) -> jax.Array:
    """Separable Gaussian blur of an (H, W, C) image with reflect padding."""
    weights = gaussian_kernel(sigma, blur_kernel_side(max(image.shape[0], image.shape[1])))
    return _convolve_axis(_convolve_axis(image, weights, 0), weights, 1)


def solarize(image) -> jax.Array:
    """Inverts values at or above one half: x if x < 0.5 else 1 - x."""
    return jnp.where(image < 0.5, image, 1.0 - image)


def random_apply(key, prob: float, op, image) -> jax.Array:
    """op(image) with probability `prob` (a static Python float), else image.

    prob 0 and 1 are resolved at trace time so the unused branch is never computed.
    """
    if prob == 0.0:
        return image
    if prob == 1.0:
        return op(image)
    return jnp.where(jax.random.bernoulli(key, prob), op(image), image)


def augment_example(key, image, spec: ViewSpec) -> jax.Array:
    """One view of one float32 image (H, W, C) in [0, 1]: crop, flip, jitter, gray, blur, solarize."""
    (crop_key, flip_key, jitter_key, jitter_draw_key, gray_key, blur_key, sigma_key, solarize_key) = (
        jax.random.split(key, 8)
    )
    if spec.random_crop:
        image = random_resized_crop(crop_key, image, spec.size, spec.crop_scale, spec.crop_ratio)
    else:
        image = resize(image, spec.size)
    image = jnp.clip(image, 0.0, 1.0)
    image = random_apply(flip_key, spec.flip_prob, flip_horizontal, image)
    image = random_apply(
        jitter_key,
        spec.jitter_prob,
        lambda x: color_jitter(jitter_draw_key, x, spec.brightness, spec.contrast, spec.saturation, spec.hue),
        image,
    )
    image = random_apply(gray_key, spec.gray_prob, to_grayscale, image)
    sigma = jax.random.uniform(sigma_key, minval=spec.blur_sigma[0], maxval=spec.blur_sigma[1])
    image = random_apply(blur_key, spec.blur_prob, lambda x: gaussian_blur(x, sigma), image)
    return random_apply(solarize_key, spec.solarize_prob, solarize, image)


def _to_unit_float(images) -> jax.Array:
    """uint8 [0, 255] to float32 [0, 1]; float input is taken to be in [0, 1] already."""
    images = jnp.asarray(images)
    if jnp.issubdtype(images.dtype, jnp.integer):
        return images.astype(jnp.float32) / 255.0
    return images.astype(jnp.float32)


def _check_batch(images, ndim: int, layout: str):
    if images.ndim != ndim or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be {layout} with C in (1, 3), got shape {tuple(images.shape)}")


def augment(key, images, spec: ViewSpec) -> jax.Array:
    """Augments a batch (B, H, W, C) into float32 (B, size, size, C) in [0, 1], one key per example."""
    _check_batch(images, 4, "(B, H, W, C)")
    example_keys = jax.random.split(key, images.shape[0])
    return jax.vmap(lambda k, x: augment_example(k, x, spec))(example_keys, _to_unit_float(images))


def make_views(key, images, specs: tuple[ViewSpec, ...]) -> list[jax.Array]:
    """One augmented batch per spec from uint8 (B, V, H, W, C).

    V == 1: every view comes from images[:, 0]; V == len(specs): view i comes from images[:, i].
    View i uses the key fold_in(key, i).
    """
    _check_batch(images, 5, "(B, V, H, W, C)")
    stored_views = images.shape[1]
    if stored_views not in (1, len(specs)):
        raise ValueError(
            f"images hold V={stored_views} views per example; expected 1 or len(specs)={len(specs)}"
        )
    return [
        augment(jax.random.fold_in(key, index), images[:, 0 if stored_views == 1 else index], spec)
        for index, spec in enumerate(specs)
    ]


def center_view(images, size: int) -> jax.Array:
    """Evaluation view: the central square of uint8 (B, H, W, C), resized to float32 (B, size, size, C).

    Antialiased bilinear; values are unchanged (x / 255) when H == W == size.
    """
    _check_batch(images, 4, "(B, H, W, C)")
    height, width = images.shape[1], images.shape[2]
    side = min(height, width)
    square = jnp.array([(height - side) / 2, (width - side) / 2, side, side], jnp.float32)
    return jnp.clip(resample_box(_to_unit_float(images), square, size), 0.0, 1.0)
