"""Few-shot evaluation: episodes, nearest prototypes, the ridge probe and the confidence interval against
NumPy; config.data.classes; the fewshot and episodes protocols end to end; their refusals."""

import dataclasses
import json
import os

import jax
import numpy as np
import pytest

from configs import simclr as simclr_config
from jaxssl import experiment, validate
from jaxssl.data import episodes, subsets
from jaxssl.evaluation import fewshot, runner
from jaxssl.models import resnet
from jaxssl.models.network import FeatureNetwork
from jaxssl.probes import episode_finetune
from jaxssl.probes import fewshot as kernels


def test_an_episode_is_a_pure_function_of_its_seed_with_disjoint_rows_class_by_class():
    labels = np.random.default_rng(0).integers(0, 8, 400)
    support, query = fewshot.sample_episode((3, 7), labels, [2, 3, 5, 7], 3, 2, 4)
    again = episodes.sample_episode((3, 7), labels, [2, 3, 5, 7], 3, 2, 4)
    np.testing.assert_array_equal(support, again[0])
    np.testing.assert_array_equal(query, again[1])
    drawn = episodes.episode_classes((3, 7), [2, 3, 5, 7], 3)
    assert len(set(drawn)) == 3 and set(drawn) <= {2, 3, 5, 7}
    np.testing.assert_array_equal(labels[support], drawn[episodes.episode_labels(3, 2)])
    np.testing.assert_array_equal(labels[query], drawn[episodes.episode_labels(3, 4)])
    assert not set(support) & set(query) and len(set(support)) == 6 and len(set(query)) == 12
    batch_support, batch_query = episodes.step_episodes(3, 7, 2, labels, [2, 3, 5, 7], 3, 2, 4)
    np.testing.assert_array_equal(
        batch_support[1], episodes.sample_episode((3, 7, 1), labels, [2, 3, 5, 7], 3, 2, 4)[0]
    )
    assert batch_query.shape == (2, 12)


@pytest.mark.parametrize(
    "classes, ways, shots, queries, message",
    [
        ([], 1, 1, 1, "non-empty class list"),
        ([1, 1], 1, 1, 1, "repeats a class"),
        ([1, 2], 3, 1, 1, "3-way episodes need 3 classes"),
        ([1, 2], 2, 4, 2, "4 shots \\+ 2 queries per class need 6 rows of each class; class 1 has 5"),
    ],
)
def test_an_episode_that_cannot_be_drawn_is_refused_in_one_line(classes, ways, shots, queries, message):
    labels = np.repeat(np.arange(3), 5)
    with pytest.raises(ValueError, match=message):
        episodes.sample_episode(0, labels, classes, ways, shots, queries)


def test_prototypes_match_numpy_for_both_metrics():
    rng = np.random.default_rng(1)
    support, labels, query = (
        rng.normal(size=(9, 4)),
        np.array([2, 0, 1, 1, 0, 2, 2, 1, 0]),
        rng.normal(size=(7, 4)),
    )
    means = np.stack([support[labels == k].mean(0) for k in range(3)])
    euclidean = np.argmin(((query[:, None] - means[None]) ** 2).sum(-1), -1)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    cosine = np.argmax(unit(query) @ unit(means).T, -1)
    np.testing.assert_array_equal(fewshot.prototype_classify(support, labels, query), euclidean)
    np.testing.assert_array_equal(fewshot.prototype_classify(support, labels, query, metric="cosine"), cosine)
    order = np.argsort(labels, kind="stable")  # class by class, 3 shots each
    batched = kernels.prototype_episodes(support[order][None], query[None], ways=3, metric="euclidean")
    np.testing.assert_array_equal(batched[0], euclidean)


@pytest.mark.parametrize("rows", [6, 40])  # fewer rows than dimensions (the dual system) and more
def test_the_ridge_probe_is_the_closed_form_least_squares_solution(rows):
    rng = np.random.default_rng(2)
    features, labels = rng.normal(size=(rows, 12)), np.arange(rows) % 3
    centred, targets = features - features.mean(0), np.eye(3)[labels]
    w = np.linalg.solve(centred.T @ centred + 0.5 * np.eye(12), centred.T @ targets)
    params = kernels.ridge_fit(features, labels, num_classes=3, l2_reg=0.5)
    np.testing.assert_allclose(params["w"], w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(params["b"], targets.mean(0) - features.mean(0) @ w, rtol=1e-4, atol=1e-5)


def test_the_confidence_interval_is_the_normal_approximation_over_episodes():
    predictions = np.array([[0, 1, 1, 1], [0, 0, 1, 1], [1, 0, 0, 0]])
    accuracy = np.array([0.75, 1.0, 0.25])
    result = kernels.mean_ci95(predictions, np.array([0, 0, 1, 1]))
    assert result["top1"] == pytest.approx(accuracy.mean()) and result["episodes"] == 3
    assert result["ci95"] == pytest.approx(1.96 * accuracy.std(ddof=1) / np.sqrt(3))


def primal_gradient_descent(support, query, ways, l2, steps):
    """The support set's logistic regression by gradient descent on W and b, in NumPy."""
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    x, q = unit(support), unit(query)
    targets = np.eye(ways)[np.repeat(np.arange(ways), len(x) // ways)]
    w, b, rate = np.zeros((x.shape[1], ways)), np.zeros(ways), 1.0 / (1.0 + 2.0 * l2)
    for _ in range(steps):
        logits = x @ w + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        residual = (p / p.sum(1, keepdims=True) - targets) / len(x)
        w, b = w - rate * (x.T @ residual + 2.0 * l2 * w), b - rate * residual.sum(0)
    return np.argmax(q @ w + b, -1)


def test_logistic_regression_on_the_support_set_is_gradient_descent_on_the_weights():
    rng = np.random.default_rng(3)
    support, query = rng.normal(size=(4, 6, 10)), rng.normal(size=(4, 9, 10))
    predictions = np.asarray(kernels.logistic_episodes(support, query, ways=3, l2=0.01, steps=30))
    expected = [primal_gradient_descent(s, q, 3, 0.01, 30) for s, q in zip(support, query, strict=True)]
    np.testing.assert_array_equal(predictions, np.stack(expected))
    centres = 4.0 * np.eye(6)[:3]
    separable = centres[np.repeat(np.arange(3), 2)][None] + 0.1 * rng.normal(size=(5, 6, 6))
    queries = centres[np.repeat(np.arange(3), 4)][None] + 0.1 * rng.normal(size=(5, 12, 6))
    predictions = np.asarray(kernels.logistic_episodes(separable, queries, ways=3, l2=1e-4, steps=50))
    np.testing.assert_array_equal(predictions, np.broadcast_to(np.repeat(np.arange(3), 4), (5, 12)))


def test_fine_tuning_starts_from_the_prototype_classifier():
    network = FeatureNetwork(resnet.resnet_micro(), (0.5,), (0.25,))
    images = np.random.default_rng(4).integers(0, 256, size=(12, 16, 16, 1), dtype=np.uint8)
    variables = network.init(jax.random.key(0), np.zeros((1, 16, 16, 1), np.float32), train=False)
    weights = (variables["params"], variables["batch_stats"])
    support, query = np.array([[0, 1, 2, 3], [4, 5, 6, 7]]), np.array([[8, 9, 10], [11, 0, 4]])
    options = dict(image_size=16, ways=2, learning_rate=0.1, parallel=2)
    unchanged = episode_finetune.finetune_predictions(
        network, weights, images, support, query, steps=0, **options
    )
    features = np.asarray(
        network.apply(variables, images / np.float32(255), train=False, method=network.features)
    )
    prototypes = kernels.prototype_episodes(features[support], features[query], ways=2, metric="euclidean")
    np.testing.assert_array_equal(unchanged, prototypes)


def tiny_config(fashion_dir, **fewshot_options):
    """The tiny SimCLR run on the miniature Fashion-MNIST (6-7 train and 3-4 test images per class) with
    few-shot settings that fit it."""
    config = simclr_config.get_config("dataset=fashion_mnist,tiny=1")
    config.data.manual_dir = fashion_dir
    config.eval.linear_steps = 10
    config.fewshot.update(
        dict(shots=(1, 2), seeds=(0, 1), episode_shots=(1,), queries=2, episodes=6, finetune_shots=(1,))
    )
    config.fewshot.update(dict(finetune_episodes=4, finetune_steps=2, finetune_parallel=2, **fewshot_options))
    return config


def read_records(workdir):
    with open(os.path.join(workdir, "offline_eval.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_the_fewshot_and_episodes_protocols_write_one_record_per_shot_count(fashion_dir, tmp_path):
    workdir = str(tmp_path / "run")
    records = runner.evaluate(
        tiny_config(fashion_dir), workdir, protocols=("fewshot", "episodes"), init="random"
    )
    assert [(r["protocol"], r["shots"]) for r in records] == [("fewshot", 1), ("fewshot", 2), ("episodes", 1)]
    assert read_records(workdir) == records
    for probe in records[:2]:
        assert probe["seeds"] == [0, 1] and probe["probe"] == "logistic" and len(probe["top1_per_seed"]) == 2
        assert probe["top1"] == pytest.approx(np.mean(probe["top1_per_seed"]))
        assert probe["top1_std"] == pytest.approx(np.std(probe["top1_per_seed"], ddof=1))
    episode = records[2]
    assert (episode["ways"], episode["queries"], episode["episodes"]) == (5, 2, 6)
    assert episode["novel_classes"] == [5, 6, 7, 8, 9]
    classifiers = episode["classifiers"]
    assert list(classifiers) == ["prototype_euclidean", "prototype_cosine", "logistic", "finetune"]
    assert [c["episodes"] for c in classifiers.values()] == [6, 6, 6, 4]
    assert all(0.0 <= c["top1"] <= 1.0 and c["ci95"] >= 0.0 for c in classifiers.values())
    assert episode["top1"] == classifiers["prototype_euclidean"]["top1"]


def test_data_classes_keep_their_training_examples_and_labels_and_name_another_run(fashion_dir):
    config = tiny_config(fashion_dir)
    config.data.classes = (0, 2, 4)
    exp = experiment.prepare(config)
    whole = exp.whole_train_source
    kept = np.isin(whole.labels, (0, 2, 4))
    np.testing.assert_array_equal(exp.train_source.images, whole.images[kept])
    np.testing.assert_array_equal(exp.train_source.labels, whole.labels[kept])
    assert len(whole.labels) == 64 and set(exp.train_source.labels) == {0, 2, 4}
    assert exp.identity["classes"] == [0, 2, 4]
    assert "classes" not in experiment.identity_of(tiny_config(fashion_dir))


@pytest.mark.parametrize(
    "classes, message",
    [((0, 0), "repeats a class"), ((3, 10), "class 10, not a class of fashion_mnist"), ((1.0,), "ints")],
)
def test_bad_data_classes_are_refused(fashion_dir, classes, message):
    config = tiny_config(fashion_dir)
    config.data.classes = classes
    with pytest.raises(ValueError, match=message):
        validate.check_config(config)


REFUSALS = {
    "more shots than a class has": (
        "fewshot",
        dict(shots=(8,)),
        "asks 8 examples per class, but class 4 .* has 6",
    ),
    "more shots and queries than a novel class has": ("episodes", dict(queries=3), "class 5 has 3"),
    "more ways than novel classes": ("episodes", dict(ways=6), "6-way episodes need 6 novel classes"),
    "an empty class list": ("episodes", dict(novel_classes=()), "non-empty class list"),
    "a novel class the run trains on": (
        "episodes",
        dict(data_classes=(4, 5)),
        "class 5, which the run trains on",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_fewshot_request_the_run_cannot_serve_is_refused_before_anything_is_written(
    case, fashion_dir, tmp_path
):
    protocol, options, message = REFUSALS[case]
    config = tiny_config(fashion_dir)
    if "data_classes" in options:
        config.data.classes = options.pop("data_classes")
    config.fewshot.update(options)
    with pytest.raises(ValueError, match=message):
        runner.evaluate(config, str(tmp_path / "never"), protocols=(protocol,), init="random")
    assert not os.path.exists(tmp_path / "never")


def test_episodes_of_a_dataset_without_labels_are_refused(fashion_dir, tmp_path, monkeypatch):
    prepare = experiment.prepare

    def unlabelled(config):
        exp = prepare(config)
        blank = dataclasses.replace(exp.eval_source, labels=np.full_like(exp.eval_source.labels, -1))
        return dataclasses.replace(exp, eval_source=blank)

    monkeypatch.setattr(experiment, "prepare", unlabelled)
    with pytest.raises(ValueError, match="needs a labelled eval split"):
        runner.evaluate(
            tiny_config(fashion_dir), str(tmp_path / "never"), protocols=("episodes",), init="random"
        )
    assert not os.path.exists(tmp_path / "never")


def test_the_online_ridge_probe_uses_the_first_shots_of_each_class_of_the_bank():
    rng = np.random.default_rng(5)
    bank = {"features": rng.normal(size=(40, 6)), "label": np.arange(40) % 4}
    held_out = {"features": rng.normal(size=(12, 6)), "label": np.arange(12) % 4}
    block = simclr_config.get_config("dataset=fashion_mnist,tiny=1").fewshot
    block.online_shots = (3, 11)
    metrics = fewshot.online_fewshot(bank, held_out, block, 4)
    assert list(metrics) == ["fewshot_3shot_top1"]  # no class of the bank has 11 examples
    rows = subsets.per_class_indices(bank["label"], 3, 0)
    mean, std = bank["features"].mean(0), bank["features"].std(0) + 1e-6
    x, test = (bank["features"][rows] - mean) / std, (held_out["features"] - mean) / std
    centred, targets = x - x.mean(0), np.eye(4)[bank["label"][rows]]
    w = centred.T @ np.linalg.solve(centred @ centred.T + block.l2_reg * np.eye(12), targets)
    predictions = np.argmax((test - x.mean(0)) @ w, -1)
    assert metrics["fewshot_3shot_top1"] == pytest.approx(np.mean(predictions == held_out["label"]))
