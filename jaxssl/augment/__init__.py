"""On-device image augmentation for SimCLR, BYOL and multi-crop (SwAV, DINO), in pure JAX.

Every op works on one float32 image (H, W, C) in [0, 1] and is vmapped over the batch with one
independent key per example, so the whole pipeline runs inside a jitted training step. A `ViewSpec`
(augment/spec.py) is a frozen, hashable dataclass: pass it as a static argument; output shapes depend only
on it. The methods' presets of them are in augment/presets.py (VIEW_PRESETS).
Specs of different sizes give views of different shapes (multi-crop: two global views of `size`,
then small views of `small_size`); as the shapes depend only on the static specs, never on the keys
or the step, a training step compiles once.

Pipeline order (Chen et al. 2020, appendix A; Grill et al. 2020, table 6): random resized crop,
horizontal flip, colour jitter, grayscale, Gaussian blur, solarize. The semi-supervised views add, where
their spec asks: a reflect-padded translation before the flip (the weak view), and RandAugment, Cutout and
Gaussian input noise at the end (augment/randaugment.py).
"""

import jax
import jax.numpy as jnp

from jaxssl.augment import randaugment
from jaxssl.augment.color import color_jitter, solarize, to_grayscale
from jaxssl.augment.lab import lab_to_rgb as lab_to_rgb
from jaxssl.augment.lab import rgb_to_lab as rgb_to_lab
from jaxssl.augment.presets import MULTICROP_STYLES as MULTICROP_STYLES
from jaxssl.augment.presets import VIEW_PRESETS as VIEW_PRESETS
from jaxssl.augment.presets import byol_views as byol_views
from jaxssl.augment.presets import fixmatch_views as fixmatch_views
from jaxssl.augment.presets import instdisc_views as instdisc_views
from jaxssl.augment.presets import masked_image_views as masked_image_views
from jaxssl.augment.presets import multicrop_views as multicrop_views
from jaxssl.augment.presets import noisy_student_views as noisy_student_views
from jaxssl.augment.presets import simclr_views as simclr_views
from jaxssl.augment.presets import weak_views as weak_views
from jaxssl.augment.spatial import flip_horizontal, gaussian_blur, random_resized_crop, resample_box, resize
from jaxssl.augment.spec import ViewSpec as ViewSpec

__all__ = [
    "MULTICROP_STYLES",
    "VIEW_PRESETS",
    "ViewSpec",
    "augment",
    "augment_example",
    "byol_views",
    "center_view",
    "color_jitter",
    "fixmatch_views",
    "flip_horizontal",
    "gaussian_blur",
    "instdisc_views",
    "lab_to_rgb",
    "make_views",
    "masked_image_views",
    "multicrop_views",
    "noisy_student_views",
    "random_apply",
    "random_resized_crop",
    "resize",
    "rgb_to_lab",
    "simclr_views",
    "solarize",
    "to_grayscale",
    "weak_views",
    "whole_view",
]

# The translation, RandAugment, Cutout and noise draw with fold_in(view key, SEMISUPERVISED_SALT + i).
SEMISUPERVISED_SALT = 1 << 10


def random_apply(key, prob: float, op, image) -> jax.Array:
    """op(image) with probability `prob` (a static Python float), else image.

    prob 0 and 1 are resolved at trace time so the unused branch is never computed.
    """
    if prob == 0.0:
        return image
    if prob == 1.0:
        return op(image)
    return jnp.where(jax.random.bernoulli(key, prob), op(image), image)


def augment_example(key, image, spec: ViewSpec, bounds=None) -> jax.Array:
    """One view of one float32 image (H, W, C) in [0, 1]: crop, flip, jitter, gray, blur, solarize. bounds:
    None, or ContrastiveCrop's (box, alpha) for the crop (spatial.sample_crop_box)."""
    (crop_key, flip_key, jitter_key, jitter_draw_key, gray_key, blur_key, sigma_key, solarize_key) = (
        jax.random.split(key, 8)
    )
    if spec.random_crop:
        image = random_resized_crop(crop_key, image, spec.size, spec.crop_scale, spec.crop_ratio, bounds)
    else:
        image = resize(image, spec.size)
    image = jnp.clip(image, 0.0, 1.0)
    if spec.translate:
        image = randaugment.random_translate(
            jax.random.fold_in(key, SEMISUPERVISED_SALT + 3), image, spec.translate
        )
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
    image = random_apply(solarize_key, spec.solarize_prob, solarize, image)
    return _semisupervised_ops(key, image, spec)


def _semisupervised_ops(key, image, spec: ViewSpec) -> jax.Array:
    """RandAugment, Cutout and input noise (augment/randaugment.py), in that order, after the other ops; their
    keys are folded from the view's key, so views without them draw exactly what they drew before."""
    ra_key, cutout_key, noise_key = (jax.random.fold_in(key, SEMISUPERVISED_SALT + i) for i in range(3))
    if spec.randaugment_ops:
        image = randaugment.randaugment(ra_key, image, spec.randaugment_ops, spec.randaugment_magnitude)
    if spec.cutout:
        image = randaugment.cutout(cutout_key, image, spec.cutout)
    if spec.noise_std:
        image = randaugment.gaussian_noise(noise_key, image, spec.noise_std)
    return image


def _to_unit_float(images) -> jax.Array:
    """uint8 [0, 255] to float32 [0, 1]; float input is taken to be in [0, 1] already."""
    images = jnp.asarray(images)
    if jnp.issubdtype(images.dtype, jnp.integer):
        return images.astype(jnp.float32) / 255.0
    return images.astype(jnp.float32)


def _check_batch(images, ndim: int, layout: str):
    if images.ndim != ndim or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be {layout} with C in (1, 3), got shape {tuple(images.shape)}")


def augment(key, images, spec: ViewSpec, bounds=None) -> jax.Array:
    """Augments a batch (B, H, W, C) into float32 (B, size, size, C) in [0, 1], one key per example. bounds:
    None, or ContrastiveCrop's (boxes (B, 4), alpha)."""
    _check_batch(images, 4, "(B, H, W, C)")
    example_keys = jax.random.split(key, images.shape[0])
    if bounds is None:
        return jax.vmap(lambda k, x: augment_example(k, x, spec))(example_keys, _to_unit_float(images))
    if not spec.random_crop:
        raise ValueError("crop bounds (ContrastiveCrop) were given for a view without a random crop")
    boxes, alpha = bounds
    return jax.vmap(lambda k, x, box: augment_example(k, x, spec, (box, alpha)))(
        example_keys, _to_unit_float(images), boxes
    )


def make_views(key, images, specs: tuple[ViewSpec, ...], bounds=None) -> list[jax.Array]:
    """One augmented batch per spec from uint8 (B, V, H, W, C).

    V == 1: every view comes from images[:, 0]; V == len(specs): view i comes from images[:, i].
    View i uses the key fold_in(key, i). bounds: None, or ContrastiveCrop's (boxes (B, 4), alpha) for every
    view's crop.
    """
    _check_batch(images, 5, "(B, V, H, W, C)")
    stored_views = images.shape[1]
    if stored_views not in (1, len(specs)):
        raise ValueError(
            f"images hold V={stored_views} views per example; expected 1 or len(specs)={len(specs)}"
        )
    return [
        augment(jax.random.fold_in(key, index), images[:, 0 if stored_views == 1 else index], spec, bounds)
        for index, spec in enumerate(specs)
    ]


def whole_view(images, size: int) -> jax.Array:
    """The whole of each uint8 (B, H, W, C) image resized to float32 (B, size, size, C) (ContrastiveCrop's heat
    maps: its boxes are fractions of the whole stored image)."""
    _check_batch(images, 4, "(B, H, W, C)")
    whole = jnp.array([0.0, 0.0, images.shape[1], images.shape[2]], jnp.float32)
    return jnp.clip(resample_box(_to_unit_float(images), whole, size), 0.0, 1.0)


def center_view(images, size: int) -> jax.Array:
    """Evaluation view: the central square of uint8 (B, H, W, C), resized to float32 (B, size, size, C).

    Antialiased bilinear; values are unchanged (x / 255) when H == W == size.
    """
    _check_batch(images, 4, "(B, H, W, C)")
    height, width = images.shape[1], images.shape[2]
    side = min(height, width)
    square = jnp.array([(height - side) / 2, (width - side) / 2, side, side], jnp.float32)
    return jnp.clip(resample_box(_to_unit_float(images), square, size), 0.0, 1.0)
