"""Semi-supervised losses against numpy loops over the papers' formulas, their gradients, and 1 vs 8 devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from jaxssl import losses, sharding


def gaussian(seed, *shape, scale=2.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def numpy_softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def numpy_fixmatch(weak, strong, threshold):
    """Sohn et al. 2020, eq. 4, one row at a time."""
    total, kept = 0.0, 0
    for w, s in zip(weak.astype(np.float64), strong.astype(np.float64), strict=True):
        p = numpy_softmax(w)
        if p.max() >= threshold:
            total += -np.log(numpy_softmax(s)[p.argmax()])
            kept += 1
    return total / len(weak), kept / len(weak)


@pytest.mark.parametrize("threshold", [0.0, 0.5, 0.95, 1.01])
def test_fixmatch_unlabelled_matches_the_paper_row_by_row(threshold):
    weak, strong = gaussian(0, 32, 10), gaussian(1, 32, 10)
    value, mask_rate = losses.fixmatch_unlabelled(weak, strong, threshold)
    expected_value, expected_rate = numpy_fixmatch(weak, strong, threshold)
    np.testing.assert_allclose(value, expected_value, rtol=1e-5, atol=1e-7)
    assert float(mask_rate) == pytest.approx(expected_rate)
    if threshold == 0.5:
        assert 0.0 < expected_rate < 1.0  # the threshold keeps some rows and drops others


def test_fixmatch_unlabelled_differentiates_the_strong_view_only():
    weak, strong = gaussian(2, 16, 5), gaussian(3, 16, 5)
    grad_weak, grad_strong = jax.grad(lambda w, s: losses.fixmatch_unlabelled(w, s, 0.5)[0], (0, 1))(
        weak, strong
    )
    assert np.all(grad_weak == 0) and np.any(grad_strong != 0)
    # pseudo-label: the same logits on both sides, the hard label still not differentiated
    same = jax.grad(lambda z: losses.fixmatch_unlabelled(z, z, 0.5)[0])(weak)
    np.testing.assert_allclose(same, jax.grad(lambda s: losses.fixmatch_unlabelled(weak, s, 0.5)[0])(weak))


def test_sharpen_is_the_renormalised_power_and_a_limit_at_both_ends():
    probs = numpy_softmax(gaussian(4, 6, 7).astype(np.float64))
    for temperature in (0.5, 1.0, 2.0):
        powered = probs ** (1 / temperature)
        np.testing.assert_allclose(
            losses.sharpen(probs.astype(np.float32), temperature),
            powered / powered.sum(-1, keepdims=True),
            rtol=1e-5,
        )
    one_hot = np.asarray(losses.sharpen(probs.astype(np.float32), 1e-3))
    np.testing.assert_allclose(one_hot, np.eye(7)[probs.argmax(-1)], atol=1e-6)
    assert np.all(np.isfinite(losses.sharpen(np.array([[1.0, 0.0, 0.0]], np.float32), 0.5)))


def test_consistency_mse_and_soft_cross_entropy_match_their_sums():
    logits, targets = gaussian(5, 8, 4), numpy_softmax(gaussian(6, 8, 4))
    probs = numpy_softmax(logits.astype(np.float64))
    expected_mse = sum(np.sum((probs[n] - targets[n]) ** 2) for n in range(8)) / (8 * 4)
    np.testing.assert_allclose(losses.consistency_mse(logits, targets), expected_mse, rtol=1e-5)
    expected_ce = sum(-np.sum(targets[n] * np.log(probs[n])) for n in range(8)) / 8
    np.testing.assert_allclose(losses.soft_cross_entropy(logits, targets), expected_ce, rtol=1e-5)
    for loss in (losses.consistency_mse, losses.soft_cross_entropy):
        assert np.all(jax.grad(loss, argnums=1)(logits, targets) == 0)  # the targets are fixed


def numpy_entropy(p):
    return -np.sum(p * np.log(p))


def test_jensen_shannon_matches_its_entropies_row_by_row_and_is_zero_on_agreement():
    first, second = gaussian(2, 24, 10), gaussian(3, 24, 10)
    rows = zip(numpy_softmax(first.astype(np.float64)), numpy_softmax(second.astype(np.float64)), strict=True)
    expected = np.mean(
        [numpy_entropy((p + q) / 2) - (numpy_entropy(p) + numpy_entropy(q)) / 2 for p, q in rows]
    )
    value = losses.jensen_shannon(first, second)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    np.testing.assert_allclose(losses.jensen_shannon(second, first), value, rtol=1e-6)
    assert abs(float(losses.jensen_shannon(first, first))) < 1e-6
    # two confident networks that disagree on every row: the bound, log 2
    apart = losses.jensen_shannon(jnp.array([[30.0, 0.0]]), jnp.array([[0.0, 30.0]]))
    np.testing.assert_allclose(apart, np.log(2.0), rtol=1e-5)
    first_grad, second_grad = jax.grad(losses.jensen_shannon, argnums=(0, 1))(first, second)
    assert np.abs(first_grad).max() > 0 and np.abs(second_grad).max() > 0


def test_mix_rows_mixes_each_row_with_its_partner():
    x, y = gaussian(7, 5, 3, 3, 2), numpy_softmax(gaussian(8, 5, 4))
    weights, partners = np.array([0.5, 0.6, 0.9, 1.0, 0.75], np.float32), np.array([3, 0, 4, 1, 2])
    mixed_x, mixed_y = losses.mix_rows(x, y, weights, partners)
    for n in range(5):
        np.testing.assert_allclose(
            mixed_x[n], weights[n] * x[n] + (1 - weights[n]) * x[partners[n]], rtol=1e-6
        )
        np.testing.assert_allclose(
            mixed_y[n], weights[n] * y[n] + (1 - weights[n]) * y[partners[n]], rtol=1e-6
        )


def test_mixup_draws_a_permutation_and_weights_of_at_least_one_half():
    rows = 64
    one_hot = np.eye(rows, dtype=np.float32)  # row n's mixture reveals its weight and its partner
    mixed_x, mixed_y = losses.mixup(jax.random.key(0), one_hot, one_hot[:, :3], alpha=0.75)
    mixed_x = np.asarray(mixed_x)
    weights = np.diagonal(mixed_x)
    off = mixed_x - np.diag(weights)
    partners = np.where(weights < 1 - 1e-6, off.argmax(axis=1), np.arange(rows))
    assert np.all(weights >= 0.5 - 1e-6) and np.all(weights <= 1.0 + 1e-6)
    assert np.unique(weights).size > rows // 2  # one draw per row, not one per batch
    assert np.all(np.isin(partners, np.arange(rows)))
    expected_x, expected_y = losses.mix_rows(one_hot, one_hot[:, :3], weights, partners)
    np.testing.assert_allclose(mixed_x, expected_x, atol=1e-6)
    np.testing.assert_allclose(mixed_y, expected_y, atol=1e-6)
    again = losses.mixup(jax.random.key(0), one_hot, one_hot[:, :3], alpha=0.75)
    np.testing.assert_array_equal(again[0], mixed_x)


SHARDED = {
    "fixmatch_unlabelled": lambda a, b, key: losses.fixmatch_unlabelled(a, b, 0.3),
    "consistency_mse": lambda a, b, key: losses.consistency_mse(a, jax.nn.softmax(b)),
    "soft_cross_entropy": lambda a, b, key: losses.soft_cross_entropy(a, jax.nn.softmax(b)),
    "sharpen": lambda a, b, key: losses.sharpen(jax.nn.softmax(a), 0.5),
    "jensen_shannon": lambda a, b, key: losses.jensen_shannon(a, b),
    "mixup": lambda a, b, key: losses.mixup(key, a, jax.nn.softmax(b), 0.75),
}


@pytest.mark.parametrize("name", list(SHARDED))
def test_same_value_on_1_and_8_devices(name):
    loss_fn = jax.jit(SHARDED[name])
    arrays = (gaussian(9, 16, 6), gaussian(10, 16, 6))
    key = jax.random.key(1)
    one_device = loss_fn(*(jax.device_put(x, jax.devices()[0]) for x in arrays), key)
    split = NamedSharding(sharding.make_mesh(8), PartitionSpec(sharding.DATA_AXIS))
    sharded = [jax.device_put(x, split) for x in arrays]
    assert len(sharded[0].sharding.device_set) == 8
    eight_devices = loss_fn(*sharded, key)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), eight_devices, one_device
    )


def test_mixup_keeps_the_dtype_of_bf16_inputs():
    x = jnp.ones((4, 2, 2, 1), jnp.bfloat16)
    mixed_x, _ = losses.mixup(jax.random.key(2), x, jnp.eye(4), 0.75)
    assert mixed_x.dtype == jnp.bfloat16
