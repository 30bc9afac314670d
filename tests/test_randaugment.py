"""RandAugment's parameterised ops against PIL's and scipy's definitions, identity at magnitude 0, and the weak
view's translation, Cutout and input noise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from PIL import Image, ImageEnhance, ImageOps

from jaxssl.augment import randaugment
from jaxssl.augment.randaugment import OPS

SIZE = 12


def photo(seed=0, channels=3) -> np.ndarray:
    """uint8 levels / 255: a smooth gradient plus noise, so every op changes it."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, SIZE)[:, None, None] + np.linspace(-30, 30, SIZE)[None, :, None]
    levels = np.clip(ramp + rng.integers(-25, 26, (SIZE, SIZE, channels)), 0, 255).astype(np.uint8)
    return levels.astype(np.float32) / 255


def apply(image, name, magnitude, sign=1.0):
    return np.asarray(randaugment.apply_op(jnp.asarray(image), OPS.index(name), magnitude, sign))


def pil(image) -> Image.Image:
    return Image.fromarray(np.round(image * 255).astype(np.uint8))


def from_pil(picture) -> np.ndarray:
    return np.asarray(picture).astype(np.float32) / 255


WITH_MAGNITUDE = [name for name in OPS if name not in ("autocontrast", "equalize")]


@pytest.mark.parametrize("name", WITH_MAGNITUDE)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_every_op_with_a_magnitude_is_the_identity_at_magnitude_zero(name, sign):
    image = photo()
    np.testing.assert_array_equal(apply(image, name, 0.0, sign), image)
    if name != "identity":
        assert np.abs(apply(image, name, 0.7, sign) - image).max() > 0.02


@pytest.mark.parametrize(
    "name, enhancer",
    [
        ("brightness", ImageEnhance.Brightness),
        ("color", ImageEnhance.Color),
        ("sharpness", ImageEnhance.Sharpness),
    ],
)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_blends_match_pil_image_enhance(name, enhancer, sign):
    image = photo(1)
    magnitude = 0.6
    factor = 1 + sign * 0.95 * magnitude
    expected = from_pil(enhancer(pil(image)).enhance(factor))
    # PIL rounds its degenerate image (the 8-bit gray, the smoothed image) and the blend to whole levels
    np.testing.assert_allclose(apply(image, name, magnitude, sign), expected, atol=2.01 / 255)


def test_contrast_blends_with_the_mean_gray_value():
    # PIL's ImageEnhance.Contrast rounds the mean to a whole level; ours keeps it exact
    image = photo(2)
    gray = image @ np.array([0.299, 0.587, 0.114], np.float32)
    expected = np.clip(gray.mean() + 0.43 * (image - gray.mean()), 0, 1)
    np.testing.assert_allclose(apply(image, "contrast", 0.6, -1.0), expected, atol=1e-6)


def test_curves_match_pil_image_ops():
    image = photo(3)
    np.testing.assert_allclose(
        apply(image, "autocontrast", 0.3), from_pil(ImageOps.autocontrast(pil(image))), atol=1.01 / 255
    )
    levels = 1e-6  # the same levels, as floats
    np.testing.assert_allclose(
        apply(image, "equalize", 0.3), from_pil(ImageOps.equalize(pil(image))), atol=levels
    )
    np.testing.assert_allclose(
        apply(image, "posterize", 0.5), from_pil(ImageOps.posterize(pil(image), 6)), atol=levels
    )
    np.testing.assert_allclose(
        apply(image, "posterize", 1.0), from_pil(ImageOps.posterize(pil(image), 4)), atol=levels
    )
    threshold_level = 154  # values above 1 - 0.4 = 153 / 255
    np.testing.assert_allclose(
        apply(image, "solarize", 0.4), from_pil(ImageOps.solarize(pil(image), threshold_level)), atol=1e-6
    )


def test_equalize_leaves_a_flat_channel_as_it_is():
    flat = np.full((SIZE, SIZE, 1), 0.4, np.float32)
    np.testing.assert_allclose(apply(flat, "equalize", 1.0), flat, atol=1e-6)
    np.testing.assert_allclose(apply(flat, "autocontrast", 1.0), flat)


@pytest.mark.parametrize("name", ["rotate", "shear_x", "shear_y", "translate_x", "translate_y"])
def test_warps_match_scipy_affine_transform_about_the_centre(name):
    image = photo(4)
    magnitude, sign = 0.8, -1.0
    matrix = np.asarray(randaugment.warp_matrix(OPS.index(name), magnitude, sign, SIZE))
    centre = np.array([(SIZE - 1) / 2, (SIZE - 1) / 2])
    offset = centre - matrix[:2, :2] @ centre + matrix[:2, 2]
    expected = np.stack(
        [
            scipy.ndimage.affine_transform(
                image[..., c], matrix[:2, :2], offset, order=1, mode="grid-constant", cval=0.5
            )
            for c in range(3)
        ],
        axis=-1,
    )
    np.testing.assert_allclose(apply(image, name, magnitude, sign), expected, atol=1e-5)


def test_warp_parameters_are_the_papers():
    rotate = np.asarray(randaugment.warp_matrix(OPS.index("rotate"), 1.0, 1.0, SIZE))
    assert np.degrees(np.arctan2(rotate[1, 0], rotate[0, 0])) == pytest.approx(30.0)
    assert np.asarray(randaugment.warp_matrix(OPS.index("shear_x"), 0.5, -1.0, SIZE))[1, 0] == pytest.approx(
        -0.15
    )
    shift = np.asarray(randaugment.warp_matrix(OPS.index("translate_x"), 1.0, 1.0, 10))[1, 2]
    assert shift == pytest.approx(3.0)  # 30 % of the side
    shifted = apply(photo(5), "translate_x", 5 / 6)  # 0.3 x 5/6 x 12 = 3 px: whole pixels, no blending
    np.testing.assert_allclose(shifted[:, : SIZE - 3], photo(5)[:, 3:], atol=1e-6)
    np.testing.assert_allclose(shifted[:, SIZE - 3 :], 0.5, atol=1e-6)


def test_randaugment_composes_its_draws_and_compiles_to_static_shapes():
    images = jnp.asarray(np.stack([photo(seed) for seed in range(8)]))
    keys = jax.random.split(jax.random.key(0), 8)
    run = jax.jit(jax.vmap(lambda k, x: randaugment.randaugment(k, x, 2)))
    augmented = np.asarray(run(keys, images))
    assert augmented.shape == images.shape and np.all((augmented >= 0) & (augmented <= 1))
    np.testing.assert_array_equal(augmented, run(keys, images))
    assert len({float(np.abs(a - x).mean()) for a, x in zip(augmented, np.asarray(images), strict=True)}) == 8
    one = randaugment.randaugment(jax.random.key(1), images[0], 1, magnitude=(0.0, 0.0))
    candidates = [images[0]] + [
        jnp.asarray(apply(images[0], name, 0.0)) for name in ("autocontrast", "equalize")
    ]
    assert any(np.allclose(one, candidate) for candidate in candidates)


def test_cutout_fills_one_square_of_at_most_the_given_side_with_gray():
    image = np.zeros((32, 32, 3), np.float32)
    sides = []
    for seed in range(20):
        out = np.asarray(randaugment.cutout(jax.random.key(seed), image, 0.5))
        filled = np.all(out == 0.5, axis=-1)
        assert np.array_equal(out[~filled], image[~filled])
        if filled.any():
            rows, columns = np.nonzero(filled)
            height, width = rows.max() - rows.min() + 1, columns.max() - columns.min() + 1
            assert filled.sum() == height * width and max(height, width) <= 16
            sides.append(max(height, width))
    assert len(sides) > 10 and len(set(sides)) > 3


def test_random_translate_is_a_reflect_padded_shift_of_at_most_the_fraction():
    image = photo(6)
    pad = round(0.125 * SIZE)
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    windows = {
        (top, left): padded[top : top + SIZE, left : left + SIZE]
        for top in range(2 * pad + 1)
        for left in range(2 * pad + 1)
    }
    seen = set()
    for seed in range(30):
        out = np.asarray(randaugment.random_translate(jax.random.key(seed), jnp.asarray(image), 0.125))
        matches = [shift for shift, window in windows.items() if np.array_equal(out, window)]
        assert matches
        seen.update(matches)
    assert len(seen) > 4


def test_gaussian_noise_has_the_given_std_and_is_not_clipped():
    image = jnp.full((64, 64, 3), 0.5)
    noisy = np.asarray(randaugment.gaussian_noise(jax.random.key(0), image, 0.15))
    assert np.std(noisy - 0.5) == pytest.approx(0.15, rel=0.05)
    assert abs(np.mean(noisy - 0.5)) < 0.01
    assert np.asarray(randaugment.gaussian_noise(jax.random.key(0), image + 0.5, 0.15)).max() > 1.0
