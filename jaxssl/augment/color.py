"""Colour ops on one float32 image (H, W, C) in [0, 1]: grayscale, jitter, hue, solarize."""

import jax
import jax.numpy as jnp

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601


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


def solarize(image) -> jax.Array:
    """Inverts values at or above one half: x if x < 0.5 else 1 - x."""
    return jnp.where(image < 0.5, image, 1.0 - image)
