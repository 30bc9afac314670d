"""Tests for jaxssl.augment: ranges, identities at strength 0, determinism, known answers."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxssl import augment as aug
from jaxssl.augment import color, spatial

jit_augment = jax.jit(aug.augment, static_argnums=2)
jit_make_views = jax.jit(aug.make_views, static_argnums=2)

NO_AUGMENTATION = aug.ViewSpec(
    size=16,
    random_crop=False,
    flip_prob=0.0,
    jitter_prob=0.0,
    gray_prob=0.0,
    blur_prob=0.0,
    solarize_prob=0.0,
)


def uint8_images(shape, seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=shape).astype(np.uint8)


def unit_images(shape, seed=0):
    return jnp.asarray(np.random.RandomState(seed).uniform(size=shape).astype(np.float32))


def only(**changes):
    """NO_AUGMENTATION with some fields changed."""
    return dataclasses.replace(NO_AUGMENTATION, **changes)


# Arguments a preset needs beyond the view size.
PRESET_ARGS = {"multicrop": {"small_size": 8, "num_small": 2}}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("preset", sorted(aug.VIEW_PRESETS))
def test_presets_give_float32_views_in_unit_range(preset, channels):
    images = uint8_images((4, 16, 16, channels))
    for spec in aug.VIEW_PRESETS[preset](16, **PRESET_ARGS.get(preset, {})):
        view = jit_augment(jax.random.key(0), images, spec)
        assert view.shape == (4, spec.size, spec.size, channels)
        assert view.dtype == jnp.float32
        assert 0.0 <= float(view.min()) and float(view.max()) <= 1.0


def test_presets_follow_the_papers():
    simclr_view, simclr_other = aug.simclr_views(32, jitter_strength=1.0, blur_prob=0.5)
    assert simclr_view == simclr_other
    assert (simclr_view.brightness, simclr_view.contrast, simclr_view.saturation) == (0.8, 0.8, 0.8)
    assert simclr_view.hue == pytest.approx(0.2)
    assert (simclr_view.jitter_prob, simclr_view.gray_prob, simclr_view.blur_prob) == (0.8, 0.2, 0.5)
    byol_first, byol_second = aug.byol_views(32)
    assert (byol_first.blur_prob, byol_first.solarize_prob) == (1.0, 0.0)
    assert (byol_second.blur_prob, byol_second.solarize_prob) == (0.1, 0.2)
    assert byol_first.crop_scale == (0.08, 1.0)


def test_multicrop_preset_follows_swav_and_dino():
    swav = aug.multicrop_views(224, 96)
    assert len(swav) == 8 and swav[0] == swav[1]
    assert [spec.size for spec in swav] == [224] * 2 + [96] * 6
    assert [spec.crop_scale for spec in swav] == [(0.14, 1.0)] * 2 + [(0.05, 0.14)] * 6
    for spec in swav:
        assert (spec.brightness, spec.contrast, spec.saturation) == (0.8, 0.8, 0.8)
        assert spec.hue == pytest.approx(0.2)
        assert (spec.jitter_prob, spec.gray_prob, spec.blur_prob, spec.solarize_prob) == (0.8, 0.2, 0.5, 0.0)
    dino = aug.multicrop_views(
        224, 96, num_small=8, crop_scale=(0.4, 1.0), small_crop_scale=(0.05, 0.4), style="byol"
    )
    byol_first, byol_second = aug.byol_views(224)
    assert dino[:2] == (
        dataclasses.replace(byol_first, crop_scale=(0.4, 1.0)),
        dataclasses.replace(byol_second, crop_scale=(0.4, 1.0)),
    )
    assert set(dino[2:]) == {
        dataclasses.replace(byol_first, size=96, crop_scale=(0.05, 0.4), blur_prob=0.5, solarize_prob=0.0)
    }
    assert len(dino) == 10
    weak = aug.multicrop_views(32, 16, num_small=0, jitter_strength=0.5, blur_prob=0.0)
    assert len(weak) == 2 and weak[0] == aug.simclr_views(32, 0.5, 0.0, min_crop_scale=0.14)[0]


def test_multicrop_views_have_their_shapes_and_compile_once():
    specs = aug.multicrop_views(16, 8, num_small=2, style="byol")

    @jax.jit
    @chex.assert_max_traces(n=1)
    def views_of_step(key, step, images):
        return aug.make_views(jax.random.fold_in(key, step), images, specs)

    images = uint8_images((2, 1, 20, 20, 3))
    draws = [
        views_of_step(jax.random.key(seed), jnp.int32(step), images)
        for seed, step in ((0, 0), (0, 1), (1, 5))
    ]
    for views in draws:
        assert [view.shape for view in views] == [(2, 16, 16, 3)] * 2 + [(2, 8, 8, 3)] * 2
        for view in views:
            assert view.dtype == jnp.float32
            assert 0.0 <= float(view.min()) and float(view.max()) <= 1.0
    assert not np.allclose(draws[0][2], draws[1][2])
    assert not np.allclose(draws[0][2], draws[2][2])


def test_host_cropped_small_views_are_resized_on_device():
    stored = uint8_images((2, 4, 16, 16, 3))
    specs = (NO_AUGMENTATION,) * 2 + (only(size=8),) * 2
    views = jit_make_views(jax.random.key(11), stored, specs)
    assert [view.shape for view in views] == [(2, 16, 16, 3)] * 2 + [(2, 8, 8, 3)] * 2
    for index in (2, 3):
        np.testing.assert_allclose(views[index], aug.center_view(stored[:, index], 8), atol=1e-6)


def test_multicrop_rejects_bad_arguments():
    with pytest.raises(ValueError, match="style"):
        aug.multicrop_views(16, 8, style="dino")
    with pytest.raises(ValueError, match="num_small"):
        aug.multicrop_views(16, 8, num_small=-1)
    with pytest.raises(ValueError, match="small_size"):
        aug.multicrop_views(16, 32)
    with pytest.raises(ValueError, match="crop_scale"):
        aug.multicrop_views(16, 8, small_crop_scale=(0.5, 0.1))


def test_no_augmentation_returns_input_over_255():
    images = uint8_images((4, 16, 16, 3))
    view = jit_augment(jax.random.key(0), images, NO_AUGMENTATION)
    np.testing.assert_allclose(view, images / 255.0, atol=1e-5)


def test_full_jitter_at_strength_zero_is_identity_inside_augment():
    images = unit_images((4, 16, 16, 3))
    spec = only(jitter_prob=1.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    np.testing.assert_allclose(jit_augment(jax.random.key(2), images, spec), images, atol=1e-5)


def test_adjustments_with_neutral_factors_are_identity():
    image = unit_images((16, 16, 3))
    for adjusted in (
        color.adjust_brightness(image, 1.0),
        color.adjust_contrast(image, 1.0),
        color.adjust_saturation(image, 1.0),
        color.adjust_hue(image, 0.0),
    ):
        np.testing.assert_allclose(adjusted, image, atol=1e-5)


def test_adjustments_with_known_answers():
    image = jnp.array([[[0.2, 0.4, 0.6], [0.6, 0.4, 0.2]]], jnp.float32)
    np.testing.assert_allclose(color.adjust_brightness(image, 2.0), jnp.clip(image * 2, 0, 1))
    gray_mean = 0.299 * 0.4 + 0.587 * 0.4 + 0.114 * 0.4
    np.testing.assert_allclose(color.adjust_contrast(image, 0.0), jnp.full_like(image, gray_mean), atol=1e-6)
    np.testing.assert_allclose(color.adjust_saturation(image, 0.0), color.to_grayscale(image), atol=1e-6)
    np.testing.assert_allclose(
        color.adjust_hue(jnp.array([1.0, 0.0, 0.0]), 1 / 3), [0.0, 1.0, 0.0], atol=1e-6
    )


def test_rgb_hsv_round_trip_and_known_values():
    rgb = unit_images((64, 3))
    np.testing.assert_allclose(color.hsv_to_rgb(color.rgb_to_hsv(rgb)), rgb, atol=1e-6)
    primaries = jnp.array(
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]]
    )
    expected_hsv = [[0.0, 1.0, 1.0], [1 / 3, 1.0, 1.0], [2 / 3, 1.0, 1.0], [0.0, 0.0, 0.5], [0.0, 0.0, 0.0]]
    np.testing.assert_allclose(color.rgb_to_hsv(primaries), expected_hsv, atol=1e-6)


def test_solarize_known_array():
    values = jnp.array([0.0, 0.25, 0.49, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(color.solarize(values), [0.0, 0.25, 0.49, 0.5, 0.25, 0.0])


def test_grayscale_has_equal_channels_and_bt601_luma():
    image = unit_images((8, 8, 3))
    gray = color.to_grayscale(image)
    expected_luma = 0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2]
    for channel in range(3):
        np.testing.assert_allclose(gray[..., channel], expected_luma, atol=1e-6)
    single = unit_images((8, 8, 1))
    np.testing.assert_array_equal(color.to_grayscale(single), single)


def test_flip_prob_one_flips_exactly():
    images = unit_images((4, 16, 16, 3))
    view = jit_augment(jax.random.key(3), images, only(flip_prob=1.0))
    np.testing.assert_allclose(view, images[:, :, ::-1], atol=1e-6)


def test_blur_keeps_constants_and_means_and_smooths():
    constant = jnp.full((16, 16, 3), 0.3)
    np.testing.assert_allclose(spatial.gaussian_blur(constant, 1.5), constant, atol=1e-6)
    image = unit_images((16, 16, 3))
    blurred = spatial.gaussian_blur(image, 1.5)
    np.testing.assert_allclose(blurred.mean(), image.mean(), atol=0.02)
    assert float(blurred.std()) < float(image.std())
    kernel = spatial.gaussian_kernel(jnp.float32(2.0), 23)
    assert kernel.shape == (23,) and float(kernel.sum()) == pytest.approx(1.0)
    assert [spatial.blur_kernel_side(size) for size in (16, 32, 96, 224)] == [3, 3, 9, 23]


def test_same_key_same_views_other_key_other_views():
    images = uint8_images((4, 16, 16, 3))
    spec = aug.byol_views(16)[1]
    first = jit_augment(jax.random.key(4), images, spec)
    np.testing.assert_array_equal(first, jit_augment(jax.random.key(4), images, spec))
    assert not np.allclose(first, jit_augment(jax.random.key(5), images, spec))


def test_examples_in_a_batch_get_different_draws():
    same_image = np.repeat(uint8_images((1, 16, 16, 3)), 4, axis=0)
    view = jit_augment(jax.random.key(6), same_image, aug.byol_views(16)[1])
    for index in range(1, 4):
        assert not np.allclose(view[0], view[index])


@pytest.mark.parametrize("height, width", [(16, 16), (20, 12)])
def test_crop_box_lies_inside_and_respects_scale(height, width):
    keys = jax.random.split(jax.random.key(7), 512)
    sample = jax.jit(
        jax.vmap(lambda key: spatial.sample_crop_box(key, height, width, (0.2, 0.6), (3 / 4, 4 / 3)))
    )
    top, left, box_h, box_w = np.asarray(sample(keys)).T
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + box_h <= height + 1e-4).all() and (left + box_w <= width + 1e-4).all()
    area_fraction = box_h * box_w / (height * width)
    assert (area_fraction >= 0.2 - 1e-5).all() and (area_fraction <= 0.6 + 1e-5).all()
    assert (box_w / box_h >= 3 / 4 - 1e-5).all() and (box_w / box_h <= 4 / 3 + 1e-5).all()


def test_crop_box_falls_back_to_the_central_box():
    box = spatial.sample_crop_box(jax.random.key(8), 16, 16, (0.9, 1.0), (4.0, 5.0))
    np.testing.assert_allclose(box, [6.0, 0.0, 4.0, 16.0], atol=1e-5)


def test_resampling_an_integer_box_at_its_own_size_is_slicing():
    image = unit_images((16, 16, 3))
    box = jnp.array([3.0, 5.0, 8.0, 8.0])
    np.testing.assert_allclose(spatial.resample_box(image, box, 8), image[3:11, 5:13], atol=1e-6)


def test_make_views_from_one_or_many_stored_views():
    flip_sometimes = only(flip_prob=0.5)
    specs = (flip_sometimes, flip_sometimes, only(size=8))
    one_stored = uint8_images((4, 1, 16, 16, 3))
    views = jit_make_views(jax.random.key(9), one_stored, specs)
    assert [view.shape for view in views] == [(4, 16, 16, 3), (4, 16, 16, 3), (4, 8, 8, 3)]
    for index in range(2):
        expected = jit_augment(jax.random.fold_in(jax.random.key(9), index), one_stored[:, 0], flip_sometimes)
        np.testing.assert_allclose(views[index], expected, atol=1e-6)
    assert not np.allclose(views[0], views[1])
    three_stored = uint8_images((4, 3, 16, 16, 3))
    views = jit_make_views(jax.random.key(9), three_stored, (NO_AUGMENTATION,) * 3)
    for index in range(3):
        np.testing.assert_allclose(views[index], three_stored[:, index] / 255.0, atol=1e-5)


def test_make_views_rejects_a_bad_view_count():
    with pytest.raises(ValueError, match="V=3"):
        aug.make_views(jax.random.key(0), uint8_images((2, 3, 16, 16, 3)), aug.byol_views(16))


def test_view_spec_is_hashable_and_validated():
    from_list = aug.ViewSpec(size=8, crop_scale=[0.2, 1.0])
    assert from_list == aug.ViewSpec(size=8, crop_scale=(0.2, 1.0))
    assert hash(from_list) == hash(aug.ViewSpec(size=8, crop_scale=(0.2, 1.0)))
    with pytest.raises(ValueError, match="flip_prob"):
        aug.ViewSpec(size=8, flip_prob=1.5)
    with pytest.raises(ValueError, match="crop_scale"):
        aug.ViewSpec(size=8, crop_scale=(0.5, 0.1))


def test_center_view_is_identity_at_native_size_and_resizes():
    images = uint8_images((2, 16, 16, 3))
    np.testing.assert_allclose(aug.center_view(images, 16), images / 255.0, atol=1e-6)
    constant = np.full((2, 20, 16, 1), 51, np.uint8)
    view = aug.center_view(constant, 8)
    assert view.shape == (2, 8, 8, 1) and view.dtype == jnp.float32
    np.testing.assert_allclose(view, 0.2, atol=1e-6)


def test_jit_matches_eager():
    images = uint8_images((2, 16, 16, 1))
    spec = dataclasses.replace(aug.byol_views(12)[1], blur_prob=0.5, solarize_prob=0.5)
    eager = aug.augment(jax.random.key(10), images, spec)
    np.testing.assert_allclose(jit_augment(jax.random.key(10), images, spec), eager, atol=1e-5)
