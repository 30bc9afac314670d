"""Representation health on embeddings whose answers are known: RankMe, spread, alignment, uniformity."""

import numpy as np
import pytest

from jaxssl.probes import health


def orthogonal(rows, columns, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(rows, columns)))
    return q


@pytest.mark.parametrize("rank", [1, 3, 8])
def test_effective_rank_of_equal_singular_values_is_the_rank(rank):
    features = orthogonal(200, rank, 0) @ orthogonal(16, rank, 1).T * 5.0  # rank r, all singular values 5
    assert health.effective_rank(features) == pytest.approx(rank, rel=1e-4)


def test_effective_rank_matches_the_entropy_formula():
    singular_values = np.array([4.0, 2.0, 1.0, 0.5])
    features = orthogonal(50, 4, 2) * singular_values @ orthogonal(4, 4, 3).T
    p = singular_values / singular_values.sum() + 1e-7
    assert health.effective_rank(features) == pytest.approx(np.exp(-np.sum(p * np.log(p))), rel=1e-6)


def test_alignment_and_uniformity_match_loops():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    expected_alignment = np.mean([np.sum((unit(a)[i] - unit(b)[i]) ** 2) for i in range(12)])
    assert health.alignment(a, b) == pytest.approx(expected_alignment, rel=1e-9)
    pairs = [np.exp(-2 * np.sum((unit(a)[i] - unit(a)[j]) ** 2)) for i in range(12) for j in range(i + 1, 12)]
    assert health.uniformity(a) == pytest.approx(np.log(np.mean(pairs)), rel=1e-9)


def test_identical_views_are_perfectly_aligned_and_a_collapsed_embedding_is_flagged():
    rng = np.random.default_rng(5)
    spread_out = rng.normal(size=(300, 16))
    assert health.alignment(spread_out, 3.0 * spread_out) == pytest.approx(0.0, abs=1e-12)
    healthy = health.health(spread_out, spread_out, spread_out)
    assert not healthy["collapsed"] and health.collapse_message(healthy) == ""
    assert healthy["feature_std_mean"] == pytest.approx(healthy["feature_std_isotropic"], rel=0.1)
    assert healthy["uniformity"] < -3.0  # near the sphere's log E exp(-2 * 2) = -4 when spread out

    collapsed = health.health(np.ones((300, 16)) + 1e-6 * spread_out)
    assert collapsed["collapsed"]
    assert collapsed["uniformity"] == pytest.approx(0.0, abs=1e-6)
    assert "collapsing" in health.collapse_message(collapsed)
    on_a_line = health.health(np.outer(rng.normal(size=300), np.ones(16)) + 1e-9 * spread_out)
    assert on_a_line["effective_rank"] < health.COLLAPSE_RANK and on_a_line["collapsed"]
