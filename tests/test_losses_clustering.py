"""Clustering and self-distillation losses against numpy re-derivations, known values, gradients and 8 devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from jaxssl import sharding
from jaxssl.losses.clustering import deepcluster_v2, sinkhorn, spherical_kmeans, swav
from jaxssl.losses.distillation import dino, dino_center, teacher_temperature


def numpy_log_softmax(row):
    row = np.asarray(row, np.float64)
    return row - np.log(np.sum(np.exp(row - row.max()))) - row.max()


def numpy_sinkhorn(scores, epsilon, iterations):
    """SwAV appendix A.1: alternate row (prototype) and column (example) rescaling of exp(C^T Z / eps)."""
    q = np.exp(np.asarray(scores, np.float64).T / epsilon)
    num_prototypes, num_examples = q.shape
    q /= q.sum()
    for _ in range(iterations):
        for k in range(num_prototypes):
            q[k] /= q[k].sum() * num_prototypes
        for b in range(num_examples):
            q[:, b] /= q[:, b].sum() * num_examples
    return (q * num_examples).T


def numpy_cross_entropy(target, logits):
    """- sum_k target_k log softmax(logits)_k, for one example."""
    return -np.sum(np.asarray(target, np.float64) * numpy_log_softmax(logits))


def numpy_swav(scores, codes, temperature):
    """SwAV eq. (1)-(2): every crop v != a predicts the code of crop a."""
    per_code = []
    for a, code in enumerate(codes):
        terms = []
        for v, crop in enumerate(scores):
            if v != a:
                terms.append(
                    np.mean([numpy_cross_entropy(code[b], crop[b] / temperature) for b in range(len(code))])
                )
        per_code.append(np.mean(terms))
    return np.mean(per_code)


def numpy_dino(student, teacher, center, student_temp, teacher_temp):
    """DINO algorithm 1: H(P_t[g], P_s[v]) over the pairs v != g."""
    terms = []
    for g, t in enumerate(teacher):
        for v, s in enumerate(student):
            if v != g:
                losses = []
                for b in range(len(t)):
                    p_t = np.exp(numpy_log_softmax((t[b] - center) / teacher_temp))
                    losses.append(numpy_cross_entropy(p_t, s[b] / student_temp))
                terms.append(np.mean(losses))
    return np.mean(terms)


def numpy_kmeans(x, centroids, iterations):
    """Spherical k-means, row by row and cluster by cluster."""
    x = np.asarray(x, np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    c = np.asarray(centroids, np.float64)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    for _ in range(iterations):
        assignment = np.array([np.argmax([row @ ck for ck in c]) for row in x])
        for k in range(len(c)):
            members = x[assignment == k]
            if len(members):
                c[k] = members.mean(0) / np.linalg.norm(members.mean(0))
    return c, np.array([np.argmax([row @ ck for ck in c]) for row in x])


def numpy_deepcluster(scores, assignments, temperature):
    """DeepCluster-v2: cross entropy against the k-means label, skipping rows labelled -1."""
    per_head = []
    for head_scores, targets in zip(scores, assignments, strict=True):
        per_crop = []
        for crop in head_scores:
            nll = [-numpy_log_softmax(crop[b] / temperature)[y] for b, y in enumerate(targets) if y >= 0]
            per_crop.append(np.mean(nll) if nll else 0.0)
        per_head.append(np.mean(per_crop))
    return np.mean(per_head)


def cosine_scores(rng, batch, prototypes, dim=8):
    """Scores of normalised embeddings against normalised prototypes, as the methods compute them."""
    z = rng.normal(size=(batch, dim))
    c = rng.normal(size=(prototypes, dim))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    return (z @ c.T).astype(np.float32)


def crops(seed, count, batch=8, k=6, scale=1.0):
    rng = np.random.default_rng(seed)
    return [scale * rng.normal(size=(batch, k)).astype(np.float32) for _ in range(count)]


def test_sinkhorn_matches_numpy_and_marginals_tighten_with_iterations():
    scores = cosine_scores(np.random.default_rng(0), batch=16, prototypes=4)
    deviations = []
    for iterations in (1, 3, 10, 30):
        codes = np.asarray(sinkhorn(scores, 0.05, iterations))
        np.testing.assert_allclose(codes, numpy_sinkhorn(scores, 0.05, iterations), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(codes.sum(1), 1.0, rtol=1e-5)
        deviations.append(np.max(np.abs(codes.sum(0) - 16 / 4)))
    assert deviations[0] > deviations[1] > deviations[2] > deviations[3]
    assert deviations[3] < 0.05


def test_sinkhorn_is_shift_invariant_and_one_hot_for_peaked_scores():
    scores = cosine_scores(np.random.default_rng(1), batch=12, prototypes=5)
    np.testing.assert_allclose(sinkhorn(scores + 7.0), sinkhorn(scores), rtol=1e-4, atol=1e-7)
    one_hot = np.eye(6, dtype=np.float32)[np.random.default_rng(2).permutation(6)]
    np.testing.assert_allclose(sinkhorn(one_hot, 0.05, 3), one_hot, atol=1e-6)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_swav_and_dino_match_numpy(temperature):
    scores = crops(0, 4)
    codes = [np.asarray(sinkhorn(s)) for s in scores[:2]]
    np.testing.assert_allclose(
        swav(scores, codes, temperature), numpy_swav(scores, codes, temperature), rtol=1e-5
    )
    student, teacher, center = crops(1, 5), crops(2, 2), crops(3, 1, batch=1)[0][0]
    np.testing.assert_allclose(
        dino(student, teacher, center, temperature, 0.04),
        numpy_dino(student, teacher, center, temperature, 0.04),
        rtol=1e-5,
    )


@pytest.mark.parametrize("num_views", [2, 3, 6])
def test_uniform_predictions_give_log_k_averaged_over_pairs(num_views):
    # Every pair's cross entropy is log K when the student/score logits are constant, so the mean over pairs
    # is log K; dividing by A * V instead of the number of pairs would give less.
    k = 6
    zeros = [np.zeros((8, k), np.float32)] * num_views
    codes = [np.eye(k, dtype=np.float32)[np.arange(8) % k]] * 2
    np.testing.assert_allclose(swav(zeros, codes), np.log(k), rtol=1e-6)
    np.testing.assert_allclose(dino(zeros, crops(4, 2), np.zeros(k, np.float32)), np.log(k), rtol=1e-6)


def test_gradients_reach_only_student_and_scores():
    scores, codes = crops(6, 3), crops(7, 2, scale=0.1)
    grad_scores, grad_codes = jax.grad(swav, argnums=(0, 1))(scores, codes)
    assert all(np.any(g != 0) for g in grad_scores) and all(np.all(g == 0) for g in grad_codes)
    student, teacher, center = crops(8, 4), crops(9, 2), np.ones(6, np.float32)
    grad_student, grad_teacher, grad_center = jax.grad(dino, argnums=(0, 1, 2))(student, teacher, center)
    assert all(np.any(g != 0) for g in grad_student)
    assert all(np.all(g == 0) for g in grad_teacher) and np.all(grad_center == 0)
    grad_sinkhorn = jax.grad(lambda s: jnp.sum(sinkhorn(s) * s))(scores[0])
    np.testing.assert_allclose(grad_sinkhorn, sinkhorn(scores[0]), rtol=1e-5, atol=1e-7)


def labelled(seed, batch=8, k=6, heads=2):
    return list(np.random.default_rng(seed).integers(-1, k, size=(heads, batch)).astype(np.int32))


@pytest.mark.parametrize(
    "loss_of_scores",
    [
        lambda s: swav(s, [np.asarray(sinkhorn(x)) for x in crops(10, 2)]),
        lambda s: dino(s, crops(11, 2), np.zeros(6, np.float32), 0.1, 0.04),
        lambda s: deepcluster_v2([s[:2], s[1:]], labelled(12)),
    ],
    ids=["swav", "dino", "deepcluster_v2"],
)
def test_gradient_step_on_scores_decreases_loss(loss_of_scores):
    scores = crops(13, 3)
    value, grad = jax.value_and_grad(loss_of_scores)(scores)
    assert loss_of_scores([s - 0.01 * g for s, g in zip(scores, grad, strict=True)]) < value


def test_dino_center_ema_and_teacher_temperature():
    center, teacher = np.arange(6, dtype=np.float32), crops(14, 2)
    expected = 0.9 * center + 0.1 * np.concatenate(teacher).mean(0)
    np.testing.assert_allclose(dino_center(center, teacher, 0.9), expected, rtol=1e-6)
    steps = jnp.asarray([0, 50, 100, 1000])
    np.testing.assert_allclose(
        teacher_temperature(steps, 100.0, 0.04, 0.07), [0.04, 0.055, 0.07, 0.07], rtol=1e-6
    )
    np.testing.assert_allclose(teacher_temperature(jnp.asarray(0), 0.0, 0.04, 0.07), 0.07)


def test_spherical_kmeans_matches_numpy_and_finds_separated_clusters():
    rng = np.random.default_rng(15)
    directions = np.linalg.qr(rng.normal(size=(8, 3)))[0].T  # 3 orthonormal directions in 8-D
    labels = np.repeat(np.arange(3), 10)
    x = (2.0 * directions[labels] + 0.1 * rng.normal(size=(30, 8))).astype(np.float32)
    init = x[[25, 3, 14]]
    centroids, assignment = spherical_kmeans(x, init, 5)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0, rtol=1e-6)
    assert assignment.dtype == jnp.int32
    np.testing.assert_array_equal(assignment, np.array([1, 2, 0])[labels])
    for iterations in (1, 2):
        random_init = rng.normal(size=(4, 8)).astype(np.float32)
        expected_centroids, expected_assignment = numpy_kmeans(x, random_init, iterations)
        centroids, assignment = jax.jit(spherical_kmeans, static_argnums=2)(x, random_init, iterations)
        np.testing.assert_allclose(centroids, expected_centroids, atol=1e-5)
        np.testing.assert_array_equal(assignment, expected_assignment)


def test_spherical_kmeans_leaves_padding_rows_out_and_unassigned():
    rng = np.random.default_rng(17)
    x, init = rng.normal(size=(20, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)
    padded = np.concatenate([x, 5.0 * rng.normal(size=(12, 4)).astype(np.float32)])
    centroids, assignment = spherical_kmeans(padded, init, 3, num_rows=20)
    expected_centroids, expected_assignment = spherical_kmeans(x, init, 3)
    np.testing.assert_allclose(centroids, expected_centroids, atol=1e-6)
    np.testing.assert_array_equal(assignment, np.concatenate([expected_assignment, np.full(12, -1)]))


def test_spherical_kmeans_empty_cluster_keeps_its_centroid():
    x = np.abs(np.random.default_rng(16).normal(size=(20, 4))).astype(np.float32)
    x[:, 3] = 0.0  # no row has any component along the last axis
    init = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], np.float32)
    centroids, assignment = spherical_kmeans(x, init, 3)
    np.testing.assert_array_equal(centroids[2], init[2])
    assert not np.any(assignment == 2)


def test_deepcluster_v2_masks_unassigned_rows():
    scores = [crops(17, 3), crops(18, 2, k=4)]
    assignments = [
        np.array([0, -1, 5, 2, -1, 1, 3, 4], np.int32),
        np.array([-1, 3, 0, 0, 2, -1, 1, 1], np.int32),
    ]
    np.testing.assert_allclose(
        deepcluster_v2(scores, assignments, 0.2), numpy_deepcluster(scores, assignments, 0.2), rtol=1e-5
    )
    changed = [[s.copy() for s in head] for head in scores]
    changed[0][1][1] += 100.0  # a masked row of head 0
    np.testing.assert_allclose(
        deepcluster_v2(changed, assignments, 0.2), deepcluster_v2(scores, assignments, 0.2)
    )
    unassigned = [np.full(8, -1, np.int32)] * 2
    value, grad = jax.value_and_grad(deepcluster_v2)(scores, unassigned)
    assert value == 0.0 and all(np.all(g == 0) for head in grad for g in head)


CASES = {
    "sinkhorn": (lambda s: sinkhorn(s[0]), lambda rng: [cosine_scores(rng, 16, 4)]),
    "swav": (lambda s: swav(s, [sinkhorn(x) for x in s[:2]]), lambda rng: crops(rng.integers(99), 3, 16)),
    "dino": (
        lambda s: dino(s, [2 * s[1], s[0]], jnp.arange(6.0) / 6, 0.1, 0.04),
        lambda rng: crops(rng.integers(99), 4, 16),
    ),
    "dino_center": (lambda t: dino_center(jnp.ones(6), t), lambda rng: crops(rng.integers(99), 2, 16)),
    "deepcluster_v2": (
        lambda args: deepcluster_v2([args[0]], [args[1]]),
        lambda rng: [crops(rng.integers(99), 2, 16), rng.integers(-1, 6, 16).astype(np.int32)],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_value_on_1_and_8_devices(name):
    fn, make_inputs = CASES[name]
    inputs = make_inputs(np.random.default_rng(19))
    one_device = jax.jit(fn)(jax.device_put(inputs, jax.devices()[0]))
    split = jax.device_put(inputs, NamedSharding(sharding.make_mesh(8), PartitionSpec(sharding.DATA_AXIS)))
    assert all(len(leaf.sharding.device_set) == 8 for leaf in jax.tree.leaves(split))
    np.testing.assert_allclose(jax.jit(fn)(split), one_device, rtol=1e-5, atol=1e-7)
