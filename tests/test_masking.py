"""Patches, masks and the reconstruction losses against numpy loops; 1 vs 8 devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from jaxssl import losses, masking, sharding


def numpy_patchify(images, patch):
    """Patch (i, j) of the grid, row-major, each flattened as (p, p, C), by explicit loops."""
    batch, height, width, _ = images.shape
    rows = []
    for b in range(batch):
        row = []
        for i in range(height // patch):
            for j in range(width // patch):
                row.append(images[b, i * patch : (i + 1) * patch, j * patch : (j + 1) * patch].reshape(-1))
        rows.append(row)
    return np.array(rows)


def test_patchify_order_and_round_trip():
    images = np.random.default_rng(0).normal(size=(2, 8, 12, 3)).astype(np.float32)
    patches = masking.patchify(images, 4)
    assert patches.shape == (2, 6, 48)
    np.testing.assert_array_equal(patches, numpy_patchify(images, 4))
    square = images[:, :, :8]
    np.testing.assert_array_equal(masking.unpatchify(masking.patchify(square, 4), 4, 3), square)
    with pytest.raises(ValueError, match="does not divide"):
        masking.patchify(images, 5)
    with pytest.raises(ValueError, match="square"):
        masking.unpatchify(patches, 4, 3)


def test_keep_count():
    assert masking.keep_count(196, 0.75) == 49
    assert masking.keep_count(16, 0.75) == 4
    assert masking.keep_count(10, 0.55) == 4
    for ratio in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="mask_ratio"):
            masking.keep_count(16, ratio)
    with pytest.raises(ValueError, match="keeps no patch"):
        masking.keep_count(4, 0.9)


def test_random_masking_keeps_exactly_keep_and_restores_the_order():
    batch, length, keep = 6, 16, 5
    ids_keep, ids_restore, mask = map(
        np.asarray, masking.random_masking(jax.random.key(0), batch, length, keep)
    )
    assert ids_keep.shape == (batch, keep) and ids_restore.shape == (batch, length)
    assert mask.shape == (batch, length) and mask.dtype == np.float32
    np.testing.assert_array_equal(mask.sum(axis=1), length - keep)
    sequence = np.arange(length)[None] * 10 + np.arange(batch)[:, None] * 1000
    for b in range(batch):
        assert len(set(ids_keep[b])) == keep
        assert np.all(mask[b, ids_keep[b]] == 0)  # the kept patches are the unmasked ones
        shuffle = np.argsort(ids_restore[b])  # the shuffle ids_restore inverts
        np.testing.assert_array_equal(shuffle[:keep], ids_keep[b])
        np.testing.assert_array_equal(sequence[b][shuffle][ids_restore[b]], sequence[b])
    assert len({tuple(row) for row in ids_keep}) > 1  # rows draw their own masks
    again = masking.random_masking(jax.random.key(0), batch, length, keep)[0]
    np.testing.assert_array_equal(again, ids_keep)


def test_block_mask_masks_whole_coarse_cells_with_an_exact_count():
    # SimMIM's setting: 32 px mask patches on 192 px images with 16 px model patches, ratio 0.6.
    mask = np.asarray(masking.block_mask(jax.random.key(1), 4, 192, 16, 32, 0.6))
    assert mask.shape == (4, 144)
    grid = mask.reshape(4, 6, 2, 6, 2)
    np.testing.assert_array_equal(grid, np.broadcast_to(grid[:, :, :1, :, :1], grid.shape))
    np.testing.assert_array_equal(grid[:, :, 0, :, 0].sum(axis=(1, 2)), 36 - masking.keep_count(36, 0.6))
    assert masking.keep_count(36, 0.6) == 14  # 22 of 36 cells masked, at least the ratio
    small = masking.block_mask(jax.random.key(2), 2, 16, 4, 8, 0.5)
    np.testing.assert_array_equal(np.asarray(small).sum(axis=1), 8)
    with pytest.raises(ValueError, match="multiple"):
        masking.block_mask(jax.random.key(2), 2, 16, 4, 6, 0.5)
    mask_fn = masking.block_mask_fn(4, 4, 8, 0.5)  # checked when made, drawn per step
    np.testing.assert_array_equal(mask_fn(jax.random.key(2), 2), small)
    with pytest.raises(ValueError, match="multiple"):
        masking.block_mask_fn(4, 4, 6, 0.5)
    with pytest.raises(ValueError, match="mask_ratio"):
        masking.block_mask_fn(4, 4, 8, 1.0)


def numpy_mae_loss(pred, target, mask, norm_pix):
    """MAE: per-patch mean squared error on the (normalised) pixels, averaged over the masked patches."""
    total, count = 0.0, 0
    for b in range(pred.shape[0]):
        for i in range(pred.shape[1]):
            if mask[b, i] == 0:
                continue
            t = target[b, i].astype(np.float64)
            if norm_pix:
                t = (t - t.mean()) / np.sqrt(t.var() + 1e-6)  # np.var is the biased variance
            total += np.mean((pred[b, i] - t) ** 2)
            count += 1
    return total / count


def numpy_simmim_loss(pred, target, mask):
    """SimMIM eq. (1): summed absolute error over the masked pixels / their number of values."""
    total, values = 0.0, 0
    for b in range(pred.shape[0]):
        for i in range(pred.shape[1]):
            if mask[b, i]:
                total += np.abs(pred[b, i].astype(np.float64) - target[b, i]).sum()
                values += pred.shape[2]
    return total / values


def loss_inputs(seed, batch=8, length=16, size=12):
    rng = np.random.default_rng(seed)
    pred = rng.normal(size=(batch, length, size)).astype(np.float32)
    target = rng.uniform(size=(batch, length, size)).astype(np.float32) * 3.0 + 1.0
    mask = np.asarray(masking.random_masking(jax.random.key(seed), batch, length, 5)[2])
    return pred, target, mask


@pytest.mark.parametrize("norm_pix", [True, False])
def test_mae_loss_matches_a_numpy_loop(norm_pix):
    pred, target, mask = loss_inputs(0)
    np.testing.assert_allclose(
        losses.mae_loss(pred, target, mask, norm_pix), numpy_mae_loss(pred, target, mask, norm_pix), rtol=1e-5
    )


def test_mae_loss_is_zero_on_the_normalised_target_and_ignores_visible_patches():
    pred, target, mask = loss_inputs(1)
    normalised = (target - target.mean(-1, keepdims=True)) / np.sqrt(target.var(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(losses.mae_loss(normalised, target, mask), 0.0, atol=1e-6)
    spoiled = np.where(mask[:, :, None] == 0, 100.0, pred)
    np.testing.assert_allclose(losses.mae_loss(spoiled, target, mask), losses.mae_loss(pred, target, mask))


def test_simmim_loss_matches_a_numpy_loop_and_ignores_visible_patches():
    pred, target, mask = loss_inputs(2)
    np.testing.assert_allclose(
        losses.simmim_loss(pred, target, mask), numpy_simmim_loss(pred, target, mask), rtol=1e-5
    )
    spoiled = np.where(mask[:, :, None] == 0, 100.0, pred)
    np.testing.assert_allclose(
        losses.simmim_loss(spoiled, target, mask), losses.simmim_loss(pred, target, mask)
    )


@pytest.mark.parametrize(
    "loss_fn", [losses.mae_loss, lambda p, t, m: losses.mae_loss(p, t, m, False), losses.simmim_loss]
)
def test_gradient_step_decreases_loss(loss_fn):
    pred, target, mask = loss_inputs(3)
    value, grad = jax.value_and_grad(loss_fn)(pred, target, mask)
    assert np.all(np.isfinite(grad))
    assert loss_fn(pred - 0.5 * grad, target, mask) < value


@pytest.mark.parametrize(
    "loss_fn", [losses.mae_loss, lambda p, t, m: losses.mae_loss(p, t, m, False), losses.simmim_loss]
)
def test_same_value_on_1_and_8_devices(loss_fn):
    arrays = loss_inputs(4, batch=16)
    one_device = jax.jit(loss_fn)(*(jax.device_put(a, jax.devices()[0]) for a in arrays))
    split = NamedSharding(sharding.make_mesh(8), PartitionSpec(sharding.DATA_AXIS))
    sharded = [jax.device_put(a, split) for a in arrays]
    assert len(sharded[0].sharding.device_set) == 8
    np.testing.assert_allclose(jax.jit(loss_fn)(*sharded), one_device, rtol=1e-6)


def test_masking_on_a_sharded_batch_matches_one_device():
    key = jax.random.key(5)
    fn = jax.jit(lambda k: masking.random_masking(k, 16, 16, 4))
    expected = fn(key)
    split = NamedSharding(sharding.make_mesh(8), PartitionSpec(sharding.DATA_AXIS))
    sharded = jax.jit(lambda k: masking.random_masking(k, 16, 16, 4), out_shardings=(split, split, split))(
        key
    )
    for a, b in zip(sharded, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    assert jnp.all(sharded[2].sum(axis=1) == 12)
