"""The view presets of the methods' papers: each returns the ViewSpecs of a method's views, in order."""

import dataclasses

from jaxssl.augment.spec import ViewSpec


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
