"""CIE L*a*b* from sRGB and back (D65 white), for colorization: L in [0, 100], a and b roughly in
[-110, 110].

sRGB (IEC 61966-2-1): gamma-expand each channel, to CIE XYZ with the sRGB primaries' matrix, divide by the D65
white point, then CIE 1976: L = 116 f(Y) - 16, a = 500 (f(X) - f(Y)), b = 200 (f(Y) - f(Z)), where
f(t) = t^(1/3) above (6/29)^3 and t / (3 (6/29)^2) + 4/29 below.
"""

import jax.numpy as jnp
import numpy as np

RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
D65_WHITE = np.array([0.95047, 1.0, 1.08883])
DELTA = 6.0 / 29.0


def _expand_gamma(srgb):
    return jnp.where(srgb <= 0.04045, srgb / 12.92, ((jnp.maximum(srgb, 0.04045) + 0.055) / 1.055) ** 2.4)


def _compress_gamma(linear):
    safe = jnp.maximum(linear, 0.0031308)
    return jnp.where(linear <= 0.0031308, 12.92 * linear, 1.055 * safe ** (1.0 / 2.4) - 0.055)


def _f(t):
    return jnp.where(t > DELTA**3, jnp.cbrt(jnp.maximum(t, DELTA**3)), t / (3.0 * DELTA**2) + 4.0 / 29.0)


def _f_inverse(t):
    return jnp.where(t > DELTA, t**3, 3.0 * DELTA**2 * (t - 4.0 / 29.0))


def rgb_to_lab(images):
    """(..., 3) float sRGB in [0, 1] -> (..., 3) float32 L*a*b*; white (1, 1, 1) is (100, 0, 0)."""
    images = jnp.asarray(images, jnp.float32)
    if images.shape[-1] != 3:
        raise ValueError(f"rgb_to_lab needs 3 colour channels, got shape {images.shape}")
    xyz = _expand_gamma(images) @ jnp.asarray(RGB_TO_XYZ.T / D65_WHITE, jnp.float32)
    fx, fy, fz = (_f(xyz[..., i]) for i in range(3))
    return jnp.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab):
    """(..., 3) L*a*b* -> (..., 3) float32 sRGB, clipped to [0, 1] (colours outside the sRGB gamut, which
    a predicted ab can be, land on its boundary); the inverse of rgb_to_lab inside the gamut."""
    lab = jnp.asarray(lab, jnp.float32)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx, fz = fy + lab[..., 1] / 500.0, fy - lab[..., 2] / 200.0
    xyz = jnp.stack([_f_inverse(fx), _f_inverse(fy), _f_inverse(fz)], axis=-1) * jnp.asarray(
        D65_WHITE, jnp.float32
    )
    linear = xyz @ jnp.asarray(np.linalg.inv(RGB_TO_XYZ).T, jnp.float32)
    return jnp.clip(_compress_gamma(linear), 0.0, 1.0)
