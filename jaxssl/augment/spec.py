"""ViewSpec: the static, hashable description of one augmented view, checked when it is made."""

import dataclasses
import math


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
