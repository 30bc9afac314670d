"""Spatial ops on one float32 image (H, W, C): random resized crop, resize, flip, Gaussian blur."""

import math

import jax
import jax.numpy as jnp

from jaxssl.augment import crops

CROP_ATTEMPTS = 10


def sample_crop_box(
    key, height: int, width: int, scale, ratio, attempts: int = CROP_ATTEMPTS, bounds=None
) -> jax.Array:
    """Samples an Inception-style crop box (Szegedy et al. 2015), as float32 [top, left, box_h, box_w].

    Each of `attempts` candidates draws an area fraction uniform in `scale` and an aspect ratio
    (width / height) log-uniform in `ratio`; the first candidate that fits in the image is placed
    uniformly at random. If none fits, the central crop of the whole image with its aspect ratio
    clamped to `ratio` is used. Boxes are continuous (sub-pixel), as the resampler accepts them.
    bounds: None, or (box, alpha) of ContrastiveCrop (augment/crops.py): the crop's centre is drawn inside box
    [top, left, bottom, right] (fractions of the image) by crops.place_in_box, with centre parameter alpha.
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
    if bounds is None:
        top = jax.random.uniform(top_key) * (height - box_h)
        left = jax.random.uniform(left_key) * (width - box_w)
    else:
        box, alpha = bounds
        top = crops.place_in_box(top_key, height, box_h, box[0], box[2], alpha)
        left = crops.place_in_box(left_key, width, box_w, box[1], box[3], alpha)
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


def random_resized_crop(key, image, size: int, scale, ratio, bounds=None) -> jax.Array:
    """Crops a random box (see `sample_crop_box`, `bounds` included) and resizes it to size x size."""
    height, width = image.shape[0], image.shape[1]
    return resample_box(image, sample_crop_box(key, height, width, scale, ratio, bounds=bounds), size)


def resize(image, size: int) -> jax.Array:
    """Resizes the whole image (..., H, W, C) to (..., size, size, C)."""
    height, width = image.shape[-3], image.shape[-2]
    return resample_box(image, jnp.array([0.0, 0.0, height, width], jnp.float32), size)


def flip_horizontal(image) -> jax.Array:
    """Mirrors an (H, W, C) image left to right."""
    return image[:, ::-1]


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
