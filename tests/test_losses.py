"""Losses against numpy re-derivations of the papers' formulas, descent, and 1 vs 8 devices."""

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from jaxssl import losses, sharding


def numpy_nt_xent(z1, z2, temperature):
    """SimCLR eq. (1), written anchor by anchor."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        similarities = np.array([z[i] @ z[k] / temperature for k in range(2 * n)])
        denominator = sum(np.exp(similarities[k]) for k in range(2 * n) if k != i)
        total += -np.log(np.exp(similarities[positive]) / denominator)
    return total / (2 * n)


def numpy_byol(p, z):
    """BYOL eq. (2): squared distance of the normalised vectors."""
    p = p / np.linalg.norm(p, axis=1, keepdims=True)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    return np.mean(np.sum((p - z) ** 2, axis=1))


def random_pair(seed, n=8, d=5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(n, d)).astype(np.float32)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_matches_formula(temperature):
    z1, z2 = random_pair(0)
    np.testing.assert_allclose(
        losses.nt_xent(z1, z2, temperature), numpy_nt_xent(z1, z2, temperature), rtol=1e-5
    )


def test_nt_xent_known_value_for_orthogonal_pairs():
    # Each pair shares one basis vector, different pairs are orthogonal: positive similarity 1/T,
    # the 2N - 2 negatives 0, so l = -log(e^{1/T} / (e^{1/T} + 2N - 2)).
    n, temperature = 4, 0.5
    z = np.eye(n, dtype=np.float32)
    expected = -np.log(np.exp(1 / temperature) / (np.exp(1 / temperature) + 2 * n - 2))
    np.testing.assert_allclose(losses.nt_xent(z, 3.0 * z, temperature), expected, rtol=1e-6)


def test_nt_xent_is_symmetric_in_the_views_and_scale_invariant():
    z1, z2 = random_pair(1)
    np.testing.assert_allclose(losses.nt_xent(z1, z2, 0.2), losses.nt_xent(z2, z1, 0.2), rtol=1e-6)
    np.testing.assert_allclose(losses.nt_xent(z1, z2, 0.2), losses.nt_xent(4 * z1, 0.5 * z2, 0.2), rtol=1e-5)


def test_byol_loss_matches_formula_and_range():
    p, z = random_pair(2)
    np.testing.assert_allclose(losses.byol_loss(p, z), numpy_byol(p, z), rtol=1e-5)
    np.testing.assert_allclose(losses.byol_loss(p, 2 * p), 0.0, atol=1e-6)
    np.testing.assert_allclose(losses.byol_loss(p, -p), 4.0, rtol=1e-6)


@pytest.mark.parametrize(
    "loss_fn", [lambda a, b: losses.nt_xent(a, b, 0.5), losses.byol_loss], ids=["nt_xent", "byol"]
)
def test_gradient_step_decreases_loss(loss_fn):
    z1, z2 = random_pair(3)
    value, grad = jax.value_and_grad(loss_fn)(z1, z2)
    assert np.all(np.isfinite(grad))
    assert loss_fn(z1 - 0.1 * grad, z2) < value


def test_byol_gradient_flows_only_through_stop_gradient_free_argument():
    p, z = random_pair(4)
    grad_z = jax.grad(lambda z_: losses.byol_loss(p, jax.lax.stop_gradient(z_)))(z)
    assert np.all(grad_z == 0)


@pytest.mark.parametrize(
    "loss_fn", [lambda a, b: losses.nt_xent(a, b, 0.1), losses.byol_loss], ids=["nt_xent", "byol"]
)
def test_same_value_on_1_and_8_devices(loss_fn):
    z1, z2 = random_pair(5, n=16, d=6)
    one_device = jax.jit(loss_fn)(jax.device_put(z1, jax.devices()[0]), jax.device_put(z2, jax.devices()[0]))
    mesh = sharding.make_mesh(8)
    split = NamedSharding(mesh, PartitionSpec(sharding.DATA_AXIS))
    a, b = jax.device_put(z1, split), jax.device_put(z2, split)
    assert len(a.sharding.device_set) == 8
    eight_devices = jax.jit(loss_fn)(a, b)
    np.testing.assert_allclose(eight_devices, one_device, rtol=1e-6)
