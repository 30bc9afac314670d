"""kNN, the linear probe and top-k accuracy on inputs whose answers are known."""

import numpy as np
import pytest

from jaxssl.probes import accuracy, knn, linear


def clusters(seed, per_class=30, dim=8, classes=3, spread=0.05):
    rng = np.random.default_rng(seed)
    centres = np.eye(classes, dim)
    labels = np.repeat(np.arange(classes), per_class)
    return (centres[labels] + spread * rng.normal(size=(len(labels), dim))).astype(np.float32), labels


def test_weighted_knn_scores_match_the_formula():
    bank = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    bank_labels = np.array([0, 1, 1])
    query = np.array([[1.0, 0.2]], np.float32)
    scores = np.asarray(knn.knn_scores(bank, bank_labels, query, num_classes=2, k=2, temperature=0.5))
    cosines = bank @ query[0] / np.linalg.norm(bank, axis=1) / np.linalg.norm(query[0])
    top = np.argsort(-cosines)[:2]
    expected = np.zeros(2)
    for i in top:
        expected[bank_labels[i]] += np.exp(cosines[i] / 0.5)
    np.testing.assert_allclose(scores[0], expected, rtol=1e-5)


def test_knn_is_perfect_on_separated_clusters_and_skips_unlabelled_bank_rows():
    bank, bank_labels = clusters(0)
    queries, query_labels = clusters(1)
    assert knn.knn_top1(bank, bank_labels, queries, query_labels, num_classes=3, k=5, temperature=0.07) == 1.0
    poisoned_labels = bank_labels.copy()
    poisoned_labels[::2] = -1  # unlabelled rows must not vote (and must not index class -1)
    assert (
        knn.knn_top1(bank, poisoned_labels, queries, query_labels, num_classes=3, k=5, temperature=0.07)
        == 1.0
    )


def test_knn_grid_with_a_chunk_smaller_than_the_queries():
    bank, bank_labels = clusters(2, spread=0.6)
    queries, query_labels = clusters(3, spread=0.6)
    whole = knn.knn_grid(
        bank, bank_labels, queries, query_labels, num_classes=3, ks=(1, 3), temperatures=(0.1,)
    )
    chunked = knn.knn_grid(
        bank, bank_labels, queries, query_labels, num_classes=3, ks=(1, 3), temperatures=(0.1,), chunk=7
    )
    assert whole == chunked


def test_knn_grid_matches_the_vote_of_each_k_and_temperature():
    rng = np.random.default_rng(8)
    bank, queries = rng.normal(size=(60, 5)), rng.normal(size=(25, 5))
    bank_labels, query_labels = rng.integers(0, 4, 60), rng.integers(0, 4, 25)
    ks, temperatures = (1, 5, 20, 200), (0.02, 0.07, 0.5)
    grid = knn.knn_grid(
        bank, bank_labels, queries, query_labels, num_classes=4, ks=ks, temperatures=temperatures
    )
    assert set(grid) == {(k, t) for k in ks for t in temperatures}
    for k in ks:
        for t in temperatures:
            scores = knn.knn_scores(bank, bank_labels, queries, num_classes=4, k=min(k, 60), temperature=t)
            expected = np.mean(np.argmax(np.asarray(scores), -1) == query_labels)
            assert grid[(k, t)] == expected, (k, t)


def test_knn_grid_at_a_small_temperature_stays_finite_and_votes_for_the_nearest():
    bank = np.array([[1.0, 0.0], [-1.0, 0.05], [-1.0, -0.05]], np.float32)
    bank_labels = np.array([0, 1, 1])
    query = np.array([[0.9, 0.1]], np.float32)  # cos 0.99 with class 0, about -0.99 with both class-1 rows
    grid = knn.knn_grid(
        bank, bank_labels, query, np.array([0]), num_classes=2, ks=(3,), temperatures=(0.001,)
    )
    assert grid[(3, 0.001)] == 1.0  # exp(1 / 0.001) overflows float32; relative weights do not


def test_linear_probe_separates_linearly_separable_features():
    train_x, train_y = clusters(4, spread=0.1)
    test_x, test_y = clusters(5, spread=0.1)
    top1 = linear.linear_probe_top1(train_x, train_y, test_x, test_y, num_classes=3, l2=1e-4, steps=100)
    assert top1 == 1.0


def test_linear_probe_at_chance_on_random_labels():
    rng = np.random.default_rng(6)
    train_x, test_x = rng.normal(size=(300, 4)), rng.normal(size=(300, 4))
    train_y, test_y = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    top1 = linear.linear_probe_top1(train_x, train_y, test_x, test_y, num_classes=2, l2=1e-4, steps=50)
    assert 0.35 < top1 < 0.65


def test_logistic_regression_reaches_the_stationary_point():
    train_x, train_y = clusters(7, spread=0.5)
    params = linear.fit_logistic_regression(train_x, train_y, num_classes=3, l2=1e-2, steps=200)
    logits = train_x @ np.asarray(params["w"]) + np.asarray(params["b"])
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    onehot = np.eye(3)[train_y]
    grad_w = train_x.T @ (probs - onehot) / len(train_y) + 2 * 1e-2 * np.asarray(params["w"])
    assert np.abs(grad_w).max() < 1e-3


def test_top_k_accuracy_matches_numpy_and_reports_top5_only_beyond_five_classes():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 10)).astype(np.float32)
    logits[:5] = 0.0  # ties go to the lower class, as argmax breaks them
    labels = rng.integers(0, 10, 200)
    order = np.argsort(-logits, axis=1, kind="stable")
    expected = {f"top{k}": np.mean([labels[i] in order[i, :k] for i in range(200)]) for k in (1, 5)}
    assert accuracy.accuracies(logits, labels) == pytest.approx(expected)
    assert expected["top1"] == np.mean(np.argmax(logits, axis=1) == labels)
    assert set(accuracy.accuracies(logits[:, :5], np.minimum(labels, 4))) == {"top1"}
