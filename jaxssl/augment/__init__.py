"""On-device image augmentation for SimCLR, BYOL and multi-crop (SwAV, DINO), in pure JAX.

Every op works on one float32 image (H, W, C) in [0, 1] and is vmapped over the batch with one
independent key per example, so the whole pipeline runs inside a jitted training step. A `ViewSpec`
is a frozen, hashable dataclass: pass it as a static argument; output shapes depend only on it.
Specs of different sizes give views of different shapes (multi-crop: two global views of `size`,
then small views of `small_size`); as the shapes depend only on the static specs, never on the keys
or the step, a training step compiles once.

Pipeline order (Chen et al. 2020, appendix A; Grill et al. 2020, table 6): random resized crop,
horizontal flip, colour jitter, grayscale, Gaussian blur, solarize. The semi-supervised views add, where
their spec asks: a reflect-padded translation before the flip (the weak view), and RandAugment, Cutout and
Gaussian input noise at the end (augment/randaugment.py).
"""

import dataclasses
import math

import jax
import jax.numpy as jnp

from jaxssl.augment import randaugment
from jaxssl.augment.color import color_jitter, solarize, to_grayscale
from jaxssl.augment.lab import lab_to_rgb as lab_to_rgb
from jaxssl.augment.lab import rgb_to_lab as rgb_to_lab
from jaxssl.augment.spatial import flip_horizontal, gaussian_blur, random_resized_crop, resample_box, resize

# The translation, RandAugment, Cutout and noise draw with fold_in(view key, SEMISUPERVISED_SALT + i).
SEMISUPERVISED_SALT = 1 << 10


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
    translate: float = 0.0
    randaugment_ops: int = 0
    randaugment_magnitude: tuple[float, float] = (0.0, 1.0)
    cutout: float = 0.0
    noise_std: float = 0.0

    def __post_init__(self):
        for name in ("crop_scale", "crop_ratio", "blur_sigma", "randaugment_magnitude"):
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
        _check_within("translate", self.translate, 0.0, 0.5)
        _check_within("cutout", self.cutout, 0.0, 1.0)
        _check_within("noise_std", self.noise_std, 0.0, math.inf)
        if not isinstance(self.randaugment_ops, int) or self.randaugment_ops < 0:
            raise ValueError(f"ViewSpec.randaugment_ops must be an int >= 0, got {self.randaugment_ops!r}")
        low, high = self.randaugment_magnitude if len(self.randaugment_magnitude) == 2 else (1.0, 0.0)
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(
                "ViewSpec.randaugment_magnitude must be a pair (lo, hi) with 0 <= lo <= hi <= 1, got "
                f"{self.randaugment_magnitude!r}"
            )


def _check_within(name, value, low, high):
    if not low <= value <= high:
        raise ValueError(f"ViewSpec.{name} must lie in [{low}, {high}], got {value!r}")


def _check_interval(name, interval, low, high):
    if len(interval) != 2 or not low < interval[0] <= interval[1] <= high:
        raise ValueError(
            f"ViewSpec.{name} must be a pair (lo, hi) with {low} < lo <= hi <= {high}, got {interval!r}"
        )


def _simclr_jitter(strength: float) -> dict[str, float]:
    """SimCLR's colour jitter of strength s (Chen et al. 2020, appendix A): 0.8 s, 0.8 s, 0.8 s, hue 0.2 s."""
    return {
        "brightness": 0.8 * strength,
        "contrast": 0.8 * strength,
        "saturation": 0.8 * strength,
        "hue": 0.2 * strength,
    }


def _byol_jitter(strength: float) -> dict[str, float]:
    """BYOL's colour jitter (Grill et al. 2020, table 6), scaled by s: 0.4 s, 0.4 s, 0.2 s, hue 0.1 s."""
    return {
        "brightness": 0.4 * strength,
        "contrast": 0.4 * strength,
        "saturation": 0.2 * strength,
        "hue": 0.1 * strength,
    }


def simclr_views(
    size: int, jitter_strength: float = 0.5, blur_prob: float = 0.0, min_crop_scale: float = 0.08
) -> tuple[ViewSpec, ViewSpec]:
    """Two identical SimCLR views (Chen et al. 2020, appendix A); s = 1.0 on ImageNet, 0.5 on CIFAR.
    min_crop_scale: smallest crop area fraction (0.08 in the paper; larger for tiny images)."""
    spec = ViewSpec(
        size=size, crop_scale=(min_crop_scale, 1.0), blur_prob=blur_prob, **_simclr_jitter(jitter_strength)
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


MULTICROP_STYLES = ("simclr", "byol")


def multicrop_views(
    size: int,
    small_size: int,
    num_small: int = 6,
    crop_scale: tuple[float, float] = (0.14, 1.0),
    small_crop_scale: tuple[float, float] = (0.05, 0.14),
    style: str = "simclr",
    jitter_strength: float = 1.0,
    blur_prob: float = 0.5,
) -> tuple[ViewSpec, ...]:
    """Multi-crop (Caron et al. 2020, SwAV, section 3.2): 2 global crops of `size`, then `num_small` crops
    of `small_size` covering small parts of the image.

    Convention every method relies on: views 0 and 1 are the global crops, views 2 .. 2 + num_small - 1
    the small ones. Defaults are SwAV's (224 / 96 px, crop area in (0.14, 1) and (0.05, 0.14)); DINO
    (Caron et al. 2021, section 3.1 and appendix) uses crop_scale (0.4, 1) and small_crop_scale (0.05, 0.4).

    style "simclr" (SwAV): every crop gets SimCLR's colour distortion of strength s = jitter_strength
    (brightness, contrast, saturation 0.8 s, hue 0.2 s) and blur with probability blur_prob.
    style "byol" (DINO): BYOL's colour jitter scaled by s (0.4 s, 0.4 s, 0.2 s, 0.1 s); global crop 1 as
    BYOL's view 1 (blur 1.0), global crop 2 as BYOL's view 2 (blur 0.1, solarize 0.2), small crops blur with
    probability blur_prob (0.5 in DINO) and are never solarized.
    """
    if style not in MULTICROP_STYLES:
        raise ValueError(f"multicrop style must be one of {MULTICROP_STYLES}, got {style!r}")
    if not isinstance(num_small, int) or num_small < 0:
        raise ValueError(f"multicrop num_small must be an int >= 0, got {num_small!r}")
    if not isinstance(small_size, int) or not 1 <= small_size <= size:
        raise ValueError(f"multicrop small_size must be an int in [1, size={size}], got {small_size!r}")
    if style == "simclr":
        first, second = simclr_views(size, jitter_strength=jitter_strength, blur_prob=blur_prob)
    else:
        first, second = (
            dataclasses.replace(view, **_byol_jitter(jitter_strength)) for view in byol_views(size)
        )
    global_views = tuple(dataclasses.replace(view, crop_scale=crop_scale) for view in (first, second))
    small_view = dataclasses.replace(first, size=small_size, crop_scale=small_crop_scale, blur_prob=blur_prob)
    return global_views + (small_view,) * num_small


def fixmatch_views(
    size: int, translate: float = 0.125, randaugment_ops: int = 2, cutout: float = 0.5
) -> tuple[ViewSpec, ViewSpec]:
    """FixMatch's weak and strong views (Sohn et al. 2020, section 2.3 and appendix): weak, a horizontal flip
    and a reflect-padded translation of up to 12.5 % of the side, no crop and no colour change; strong, the
    weak view then RandAugment (2 ops at random magnitudes) and Cutout (a gray square of up to half the
    side)."""
    weak = ViewSpec(size=size, random_crop=False, jitter_prob=0.0, gray_prob=0.0, translate=translate)
    return weak, dataclasses.replace(weak, randaugment_ops=randaugment_ops, cutout=cutout)


def weak_views(
    size: int, translate: float = 0.125, noise_std: float = 0.0, count: int = 2
) -> tuple[ViewSpec, ...]:
    """`count` weak views (flip and reflect-padded translation; Gaussian input noise of std `noise_std`):
    the views of pseudo-label, Mean Teacher (Tarvainen and Valpola 2017: translations, flips and input noise
    on CIFAR-10) and MixMatch (Berthelot et al. 2019: K = 2 flip-and-crop augmentations)."""
    spec = ViewSpec(
        size=size, random_crop=False, jitter_prob=0.0, gray_prob=0.0, translate=translate, noise_std=noise_std
    )
    return (spec,) * count


def noisy_student_views(
    size: int,
    translate: float = 0.125,
    randaugment_ops: int = 2,
    randaugment_magnitude: tuple[float, float] = (0.9, 0.9),
) -> tuple[ViewSpec]:
    """The noised view of a Noisy Student (Xie et al. 2020, section 3): flip, a reflect-padded translation and
    RandAugment, 2 ops at magnitude 27 of 30 (the paper's N = 2, M = 27); the teacher labels the image
    itself."""
    spec = ViewSpec(
        size=size,
        random_crop=False,
        jitter_prob=0.0,
        gray_prob=0.0,
        translate=translate,
        randaugment_ops=randaugment_ops,
        randaugment_magnitude=tuple(randaugment_magnitude),
    )
    return (spec,)


def instdisc_views(size: int, min_crop_scale: float = 0.2) -> tuple[ViewSpec]:
    """InstDisc's single view (Wu et al. 2018, section 4 and the released code): random resized crop of at
    least 20 % of the area, grayscale with probability 0.2, colour jitter 0.4 on all four factors (always
    applied), horizontal flip; no blur."""
    return (
        ViewSpec(
            size=size,
            crop_scale=(min_crop_scale, 1.0),
            jitter_prob=1.0,
            brightness=0.4,
            contrast=0.4,
            saturation=0.4,
            hue=0.4,
        ),
    )


def masked_image_views(
    size: int, min_crop_scale: float = 0.2, max_crop_scale: float = 1.0
) -> tuple[ViewSpec]:
    """The single view of masked image modelling and of the pretext tasks (the "masked" and "crop_flip"
    presets): a random resized crop and a horizontal flip, no colour change (MAE, He et al. 2022, appendix
    A.1: area 0.2-1; SimMIM, Xie et al. 2022: 0.67-1; RotNet, Jigsaw and relative patch position crop and
    flip only)."""
    return (ViewSpec(size=size, crop_scale=(min_crop_scale, max_crop_scale), jitter_prob=0.0, gray_prob=0.0),)


VIEW_PRESETS = {
    "simclr": simclr_views,
    "byol": byol_views,
    "multicrop": multicrop_views,
    "instdisc": instdisc_views,
    "masked": masked_image_views,
    "crop_flip": masked_image_views,
    "fixmatch": fixmatch_views,
    "weak": weak_views,
    "noisy_student": noisy_student_views,
}


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
