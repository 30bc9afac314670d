"""MoCo/NNCLR, SimSiam, Barlow Twins, VICReg and instance-discrimination losses: numpy re-derivations of the
papers' formulas, known values, descent, and 1 vs 8 devices."""

import math

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from jaxssl import sharding
from jaxssl.losses import contrastive, decorrelation, instdisc, regression


def normalized(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def numpy_info_nce(q, k, queue, temperature):
    """MoCo eq. (1) with a queue (positive first); MoCo v3 / NNCLR eq. (2) without (label n for row n)."""
    q, k = normalized(q), normalized(k)
    total = 0.0
    for n in range(len(q)):
        if queue is None:
            logits = [q[n] @ k[j] / temperature for j in range(len(k))]
            positive = n
        else:
            logits = [q[n] @ k[n] / temperature] + [q[n] @ key / temperature for key in normalized(queue)]
            positive = 0
        total += -math.log(math.exp(logits[positive]) / sum(math.exp(logit) for logit in logits))
    return total / len(q)


def numpy_nearest_neighbours(z, support):
    """NNCLR eq. (1): the normalised support row at the smallest Euclidean distance."""
    z, support = normalized(z), normalized(support)
    rows = []
    for row in z:
        distances = [np.linalg.norm(row - candidate) for candidate in support]
        rows.append(support[int(np.argmin(distances))])
    return np.stack(rows)


def numpy_simsiam(p, z):
    """SimSiam D(p, z) = -cos(p, z), averaged over the batch."""
    return np.mean([-(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)) for a, b in zip(p, z, strict=True)])


def numpy_barlow_twins(z1, z2, lambd):
    """Barlow Twins eq. (1)-(2), with BatchNorm-style standardisation (biased variance, eps 1e-5)."""

    def standardize(z):
        z = np.asarray(z, dtype=np.float64)
        out = np.empty_like(z)
        for d in range(z.shape[1]):
            mean = sum(z[:, d]) / len(z)
            variance = sum((x - mean) ** 2 for x in z[:, d]) / len(z)
            out[:, d] = (z[:, d] - mean) / math.sqrt(variance + 1e-5)
        return out

    a, b = standardize(z1), standardize(z2)
    n, dim = a.shape
    loss = 0.0
    for i in range(dim):
        for j in range(dim):
            c_ij = sum(a[m, i] * b[m, j] for m in range(n)) / n
            loss += (1 - c_ij) ** 2 if i == j else lambd * c_ij**2
    return loss


def numpy_vicreg(z1, z2, sim_coeff, std_coeff, cov_coeff):
    """VICReg eq. (1)-(6), element by element."""
    z1, z2 = np.asarray(z1, dtype=np.float64), np.asarray(z2, dtype=np.float64)
    n, dim = z1.shape

    def variance(z):
        total = 0.0
        for d in range(dim):
            mean = sum(z[:, d]) / n
            std = math.sqrt(sum((x - mean) ** 2 for x in z[:, d]) / (n - 1) + 1e-4)
            total += max(0.0, 1.0 - std)
        return total / dim

    def covariance(z):
        means = [sum(z[:, d]) / n for d in range(dim)]
        total = 0.0
        for i in range(dim):
            for j in range(dim):
                if i != j:
                    cov = sum((z[m, i] - means[i]) * (z[m, j] - means[j]) for m in range(n)) / (n - 1)
                    total += cov**2
        return total / dim

    invariance = sum((z1[m, d] - z2[m, d]) ** 2 for m in range(n) for d in range(dim)) / (n * dim)
    var = (variance(z1) + variance(z2)) / 2
    cov = covariance(z1) + covariance(z2)
    terms = {"invariance": invariance, "variance": var, "covariance": cov}
    return sim_coeff * invariance + std_coeff * var + cov_coeff * cov, terms


def numpy_instdisc_softmax(v, bank, indices, temperature):
    """Wu et al. eq. (2): P(i|v) over all N memory rows."""
    v, bank = normalized(v), np.asarray(bank, dtype=np.float64)
    total = 0.0
    for b in range(len(v)):
        scores = [math.exp(row @ v[b] / temperature) for row in bank]
        total += -math.log(scores[indices[b]] / sum(scores))
    return total / len(v)


def numpy_instdisc_nce(v, bank, indices, negative_indices, temperature, log_normalizer):
    """Wu et al. eq. (3)-(5): h = P / (P + m P_n) with P = exp(s / T) / Z and P_n = 1 / N."""
    v, bank = normalized(v), np.asarray(bank, dtype=np.float64)
    m, noise = negative_indices.shape[1], 1.0 / len(bank)

    def h(i, b):
        p = math.exp(bank[i] @ v[b] / temperature) / math.exp(log_normalizer)
        return p / (p + m * noise)

    total = 0.0
    for b in range(len(v)):
        total += math.log(h(indices[b], b)) + sum(math.log(1 - h(j, b)) for j in negative_indices[b])
    return -total / len(v)


def numpy_nce_log_normalizer(v, bank, negative_indices, temperature):
    """Wu et al. section 3.2: Z ~= N * mean over the sampled negatives of exp(bank_j . v / T)."""
    v, bank = normalized(v), np.asarray(bank, dtype=np.float64)
    samples = [math.exp(bank[j] @ v[b] / temperature) for b in range(len(v)) for j in negative_indices[b]]
    return math.log(len(bank) * sum(samples) / len(samples))


def numpy_memory_update(bank, indices, v, momentum):
    """Wu et al. section 3.2: the batch's rows move towards the normalised new features, then renormalise."""
    bank, v = np.array(bank, dtype=np.float64), normalized(v)
    for b, i in enumerate(indices):
        row = momentum * bank[i] + (1 - momentum) * v[b]
        bank[i] = row / np.linalg.norm(row)
    return bank


def gaussian(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def hadamard_columns():
    """Columns 1..7 of the 8 x 8 Sylvester-Hadamard matrix: entries +-1, each column mean 0, orthogonal."""
    h = np.array([[1.0]])
    for _ in range(3):
        h = np.block([[h, h], [h, -h]])
    return h[:, 1:].astype(np.float32)


BANK = normalized(gaussian(10, 12, 5)).astype(np.float32)
INDICES = np.array([3, 0, 7, 11, 5, 2, 9, 1], dtype=np.int32)
NEGATIVES = np.random.default_rng(11).integers(0, 12, size=(8, 4)).astype(np.int32)


@pytest.mark.parametrize("with_queue", [False, True], ids=["in_batch", "queue"])
@pytest.mark.parametrize("temperature", [0.07, 0.2, 1.0])
def test_info_nce_matches_formula(with_queue, temperature):
    q, k = gaussian(0, 8, 5), gaussian(1, 8, 5)
    queue = gaussian(2, 6, 5) if with_queue else None
    np.testing.assert_allclose(
        contrastive.info_nce(q, k, queue, temperature), numpy_info_nce(q, k, queue, temperature), rtol=1e-5
    )


def test_info_nce_known_values():
    # Identical orthonormal q and k: positive 1/T, the N - 1 in-batch negatives (or K queued ones
    # orthogonal to everything) 0. All-identical q, k and queue: K + 1 equal logits, loss log(K + 1).
    temperature, eye = 0.5, np.eye(8, dtype=np.float32)
    q = eye[:4]
    e = math.exp(1 / temperature)
    np.testing.assert_allclose(
        contrastive.info_nce(q, 2 * q, None, temperature), -math.log(e / (e + 3)), rtol=1e-6
    )
    np.testing.assert_allclose(
        contrastive.info_nce(q, q, eye[4:7], temperature), -math.log(e / (e + 3)), rtol=1e-6
    )
    ones = np.ones((4, 8), dtype=np.float32)
    np.testing.assert_allclose(
        contrastive.info_nce(ones, ones, 3 * ones[:3], temperature), math.log(4), rtol=1e-6
    )


def test_nearest_neighbours_matches_formula_and_picks_the_known_row():
    z, support = gaussian(3, 8, 5), gaussian(4, 10, 5)
    np.testing.assert_allclose(
        contrastive.nearest_neighbours(z, support), numpy_nearest_neighbours(z, support), rtol=1e-5, atol=1e-7
    )
    chosen = np.array([7, 2, 2, 9, 0, 4, 1, 5])
    near = 3.0 * support[chosen] + 0.01 * gaussian(5, 8, 5)
    np.testing.assert_allclose(
        contrastive.nearest_neighbours(near, support), normalized(support[chosen]), rtol=1e-5, atol=1e-7
    )
    grad = jax.grad(lambda s: contrastive.nearest_neighbours(z, s).sum())(support)
    assert np.all(grad == 0)


def test_simsiam_matches_formula_and_range():
    p, z = gaussian(6, 8, 5), gaussian(7, 8, 5)
    np.testing.assert_allclose(regression.simsiam_loss(p, z), numpy_simsiam(p, z), rtol=1e-5)
    np.testing.assert_allclose(regression.simsiam_loss(2 * z, z), -1.0, rtol=1e-6)
    np.testing.assert_allclose(regression.simsiam_loss(-z, z), 1.0, rtol=1e-6)


@pytest.mark.parametrize("lambd", [5e-3, 0.5])
def test_barlow_twins_matches_formula(lambd):
    z1, z2 = gaussian(8, 8, 5), gaussian(9, 8, 5)
    np.testing.assert_allclose(
        decorrelation.barlow_twins(z1, z2, lambd), numpy_barlow_twins(z1, z2, lambd), rtol=1e-5
    )


def test_barlow_twins_is_zero_when_cross_correlation_is_identity():
    # Hadamard columns scaled by 100: mean 0, biased variance 1e4 >> eps, orthogonal, so C = H^T H / 8 = I.
    z = 100.0 * hadamard_columns()
    np.testing.assert_allclose(decorrelation.barlow_twins(z, z), 0.0, atol=1e-6)
    assert decorrelation.barlow_twins(z, z[:, ::-1]) > 1.0


@pytest.mark.parametrize("coeffs", [(25.0, 25.0, 1.0), (1.0, 2.0, 3.0)])
def test_vicreg_matches_formula(coeffs):
    z1, z2 = 0.5 * gaussian(12, 8, 5), 0.5 * gaussian(13, 8, 5) + 1.0
    total, terms = decorrelation.vicreg(z1, z2, *coeffs)
    expected_total, expected_terms = numpy_vicreg(z1, z2, *coeffs)
    np.testing.assert_allclose(total, expected_total, rtol=1e-5)
    for name, value in expected_terms.items():
        np.testing.assert_allclose(terms[name], value, rtol=1e-5)


def test_vicreg_known_values():
    z = gaussian(14, 8, 5)
    _, terms = decorrelation.vicreg(z, z)
    assert terms["invariance"] == 0
    # Hadamard columns: unbiased std sqrt(8/7) > 1 and zero covariance, so every term vanishes.
    total, terms = decorrelation.vicreg(hadamard_columns(), hadamard_columns())
    np.testing.assert_allclose([total, *terms.values()], 0.0, atol=1e-6)


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_instdisc_softmax_matches_formula(temperature):
    v = gaussian(15, 8, 5)
    np.testing.assert_allclose(
        instdisc.instdisc_softmax(v, BANK, INDICES, temperature),
        numpy_instdisc_softmax(v, BANK, INDICES, temperature),
        rtol=1e-5,
    )


@pytest.mark.parametrize("temperature, log_normalizer", [(0.07, 14.0), (0.5, 2.5)])
def test_instdisc_nce_matches_formula(temperature, log_normalizer):
    v = gaussian(16, 8, 5)
    np.testing.assert_allclose(
        instdisc.instdisc_nce(v, BANK, INDICES, NEGATIVES, temperature, log_normalizer),
        numpy_instdisc_nce(v, BANK, INDICES, NEGATIVES, temperature, log_normalizer),
        rtol=1e-5,
    )


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_nce_log_normalizer_matches_formula(temperature):
    v = gaussian(17, 8, 5)
    np.testing.assert_allclose(
        instdisc.nce_log_normalizer(v, BANK, NEGATIVES, temperature),
        numpy_nce_log_normalizer(v, BANK, NEGATIVES, temperature),
        rtol=1e-5,
    )


def test_instdisc_losses_leave_a_padded_banks_padding_out():
    # A bank's rows padded past the examples (so that it splits over the devices): the same three numbers.
    v, padded = gaussian(21, 8, 5), np.concatenate([BANK, gaussian(22, 6, 5)])
    examples = len(BANK)
    for padded_value, value in (
        (
            instdisc.instdisc_softmax(v, padded, INDICES, 0.07, examples),
            instdisc.instdisc_softmax(v, BANK, INDICES),
        ),
        (
            instdisc.instdisc_nce(v, padded, INDICES, NEGATIVES, 0.07, 14.0, examples),
            instdisc.instdisc_nce(v, BANK, INDICES, NEGATIVES, 0.07, 14.0),
        ),
        (
            instdisc.nce_log_normalizer(v, padded, NEGATIVES, 0.07, examples),
            instdisc.nce_log_normalizer(v, BANK, NEGATIVES, 0.07),
        ),
    ):
        np.testing.assert_allclose(padded_value, value, rtol=1e-6)


def test_instdisc_losses_do_not_train_the_bank():
    v = gaussian(18, 8, 5)
    grads = [
        jax.grad(lambda bank: instdisc.instdisc_softmax(v, bank, INDICES))(BANK),
        jax.grad(lambda bank: instdisc.instdisc_nce(v, bank, INDICES, NEGATIVES, 0.07, 14.0))(BANK),
    ]
    assert all(np.all(grad == 0) for grad in grads)


def test_memory_update_moves_only_the_batch_rows():
    v, indices, momentum = gaussian(19, 3, 5), np.array([4, 0, 9]), 0.3
    updated = np.asarray(instdisc.memory_update(BANK, indices, v, momentum))
    np.testing.assert_allclose(updated, numpy_memory_update(BANK, indices, v, momentum), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(updated, axis=1), 1.0, rtol=1e-6)
    unchanged = np.setdiff1d(np.arange(len(BANK)), indices)
    np.testing.assert_array_equal(updated[unchanged], BANK[unchanged])
    moved = momentum * BANK[4] + (1 - momentum) * normalized(v[0])
    np.testing.assert_allclose(updated[4], moved / np.linalg.norm(moved), rtol=1e-5)
    assert np.all(jax.grad(lambda v_: instdisc.memory_update(BANK, indices, v_).sum())(v) == 0)


QUEUE = gaussian(20, 6, 5)
DESCENT_LOSSES = {
    "info_nce_in_batch": lambda a, b: contrastive.info_nce(a, b, None, 0.2),
    "info_nce_queue": lambda a, b: contrastive.info_nce(a, b, QUEUE, 0.2),
    "simsiam": regression.simsiam_loss,
    "barlow_twins": decorrelation.barlow_twins,
    "vicreg": lambda a, b: decorrelation.vicreg(a, b)[0],
    "instdisc_softmax": lambda a, b: instdisc.instdisc_softmax(a, BANK, INDICES),
}


@pytest.mark.parametrize("name", list(DESCENT_LOSSES))
def test_gradient_step_decreases_loss(name):
    loss_fn = DESCENT_LOSSES[name]
    z1, z2 = gaussian(21, 8, 5), gaussian(22, 8, 5)
    value, grad = jax.value_and_grad(loss_fn)(z1, z2)
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    assert loss_fn(z1 - 0.01 * grad, z2) < value


WIDE_BANK = normalized(gaussian(23, 40, 6)).astype(np.float32)
SHARDED_LOSSES = {
    "info_nce_in_batch": lambda a, b, i: contrastive.info_nce(a, b, None, 0.1),
    "info_nce_queue": lambda a, b, i: contrastive.info_nce(a, b, WIDE_BANK[:7], 0.1),
    "barlow_twins": lambda a, b, i: decorrelation.barlow_twins(a, b),
    "vicreg": lambda a, b, i: decorrelation.vicreg(a, b),
    "instdisc_softmax": lambda a, b, i: instdisc.instdisc_softmax(a, WIDE_BANK, i),
    "nearest_neighbours": lambda a, b, i: contrastive.nearest_neighbours(a, b),
}


@pytest.mark.parametrize("name", list(SHARDED_LOSSES))
def test_same_value_on_1_and_8_devices(name):
    loss_fn = jax.jit(SHARDED_LOSSES[name])
    arrays = (gaussian(24, 16, 6), gaussian(25, 16, 6), np.arange(16, dtype=np.int32) * 2)
    one_device = loss_fn(*(jax.device_put(x, jax.devices()[0]) for x in arrays))
    split = NamedSharding(sharding.make_mesh(8), PartitionSpec(sharding.DATA_AXIS))
    sharded = [jax.device_put(x, split) for x in arrays]
    assert len(sharded[0].sharding.device_set) == 8
    eight_devices = loss_fn(*sharded)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), eight_devices, one_device
    )
