"""The methods trained on episodes: Prototypical Networks' loss against numpy and on 1 and 8 devices, the
episodes of a step as the methods read them, ProtoNet's and MAML's losses on a linear network against a
hand-written inner loop, first- against second-order MAML, and the refusals. Both methods train and resume
exactly in tests/test_methods.py."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from jaxssl import experiment, losses, sharding
from jaxssl.data import parts
from jaxssl.evaluation import fewshot, runner
from jaxssl.methods import METHODS, LossInputs, MethodContext
from jaxssl.methods.episodic import EpisodeLayout
from tests.helpers import tiny_config

MEAN, STD = 0.5, 0.25


def numpy_prototypical(support, support_labels, query, query_labels, ways):
    """Snell et al. 2017, eq. 1 (class means) and eq. 2 (softmax over negative squared distances), query by
    query."""
    support, query = np.asarray(support, np.float64), np.asarray(query, np.float64)
    prototypes = [support[np.asarray(support_labels) == k].mean(axis=0) for k in range(ways)]
    total = 0.0
    for row, label in zip(query, query_labels, strict=True):
        scores = [-np.sum((row - prototype) ** 2) for prototype in prototypes]
        total += -(scores[label] - math.log(sum(math.exp(score) for score in scores)))
    return total / len(query)


def episode_arrays(seed, ways=3, shots=2, queries=4, dim=5):
    rng = np.random.default_rng(seed)
    support = rng.normal(size=(ways * shots, dim)).astype(np.float32)
    query = rng.normal(size=(ways * queries, dim)).astype(np.float32)
    support_labels = np.repeat(np.arange(ways), shots).astype(np.int32)
    query_labels = rng.permutation(np.repeat(np.arange(ways), queries)).astype(np.int32)
    return support, support_labels, query, query_labels


@pytest.mark.parametrize("seed", [0, 1])
def test_prototypical_matches_the_papers_equation(seed):
    support, support_labels, query, query_labels = episode_arrays(seed)
    shuffled = np.random.default_rng(seed).permutation(len(support))  # rows in any order, by label
    value = losses.prototypical(support[shuffled], support_labels[shuffled], query, query_labels, 3)
    np.testing.assert_allclose(
        value, numpy_prototypical(support, support_labels, query, query_labels, 3), rtol=1e-5
    )


def test_prototypical_is_the_same_on_1_and_8_devices():
    support, support_labels, query, query_labels = episode_arrays(2, ways=4, shots=2, queries=4)
    loss = jax.jit(losses.prototypical, static_argnums=4)
    one_device = loss(support, support_labels, query, query_labels, 4)
    split = NamedSharding(sharding.make_mesh(8), PartitionSpec(sharding.DATA_AXIS))
    placed = [jax.device_put(array, split) for array in (support, support_labels, query, query_labels)]
    np.testing.assert_allclose(loss(*placed, 4), one_device, rtol=1e-6)


def test_a_step_of_episodes_is_laid_out_as_the_methods_read_it():
    labels = np.concatenate([np.repeat(np.arange(6), 9), np.full(20, -1)])  # 6 classes, unlabelled rows
    plan = parts.episodes_of_split(labels, count=3, ways=4, shots=2, queries=3)
    layout = EpisodeLayout(ways=4, shots=2, queries=3, episodes=3)
    indices, shown = parts.episode_rows(5, episodes=plan, labels=labels, seed=1)
    assert plan.batch == len(indices) == 3 * layout.rows
    np.testing.assert_array_equal(shown, labels[indices])
    support, query = (np.asarray(rows) for rows in layout.split(jnp.asarray(shown)))
    support_rows, query_rows = (np.asarray(rows) for rows in layout.split(jnp.asarray(indices)))
    for episode in range(3):
        classes = support[episode][:: layout.shots]
        assert len(set(classes)) == 4 and set(classes) <= set(range(6))
        np.testing.assert_array_equal(support[episode], classes[np.asarray(layout.support_labels)])
        np.testing.assert_array_equal(query[episode], classes[np.asarray(layout.query_labels)])
        assert len(set(support_rows[episode]) | set(query_rows[episode])) == layout.rows  # all disjoint
    again, _ = parts.episode_rows(5, episodes=plan, labels=labels, seed=1)
    next_step, _ = parts.episode_rows(6, episodes=plan, labels=labels, seed=1)
    np.testing.assert_array_equal(again, indices)
    assert not np.array_equal(next_step, indices)


class LinearBackbone(nn.Module):
    """f(x) = x W + b on the flattened image: a network whose gradients numpy writes by hand."""

    width: int = 3

    @nn.compact
    def __call__(self, x, train: bool):
        return nn.Dense(self.width, name="dense")(x.reshape(x.shape[0], -1))


LAYOUT = dict(ways=2, shots=2, queries=2)  # 2 episodes of 8 rows: a batch of 16


def linear_context(num_classes: int) -> MethodContext:
    """The context of a method on LinearBackbone: 16 rows of 2 x 2 images per step, 64 training examples."""
    return MethodContext(
        backbone=LinearBackbone(),
        image_mean=(MEAN,),
        image_std=(STD,),
        dtype=jnp.float32,
        num_examples=64,
        global_batch=16,
        image_size=2,
        num_classes=num_classes,
    )


def linear_method(name, **hyperparameters):
    context = linear_context(num_classes=10)
    method = METHODS[name](context, **LAYOUT, **hyperparameters)
    images = jnp.asarray(np.random.default_rng(3).uniform(size=(16, 2, 2, 1)), jnp.float32)
    params = method.network.init(jax.random.key(0), images, train=True)["params"]
    inputs = LossInputs(
        batch_stats={},
        target={},
        extra={},
        views=[images],
        indices=jnp.arange(16),
        labels=jnp.zeros(16, jnp.int32),
        step=jnp.zeros((), jnp.int32),
        key=jax.random.key(1),
    )
    flat = ((np.asarray(images, np.float64) - MEAN) / STD).reshape(2, 8, 4)  # (episode, row, pixel)
    return method, params, inputs, flat


def numpy_episodes(flat):
    """Each episode's (support inputs, support labels, query inputs, query labels): the episodic layout."""
    support_rows = LAYOUT["ways"] * LAYOUT["shots"]
    support_labels = np.repeat(np.arange(LAYOUT["ways"]), LAYOUT["shots"])
    query_labels = np.repeat(np.arange(LAYOUT["ways"]), LAYOUT["queries"])
    return [(x[:support_rows], support_labels, x[support_rows:], query_labels) for x in flat]


def test_protonet_loss_is_the_prototypical_loss_of_the_backbone_features():
    method, params, inputs, flat = linear_method("protonet")
    kernel, bias = (np.asarray(params["backbone"]["dense"][name], np.float64) for name in ("kernel", "bias"))
    expected = np.mean(
        [
            numpy_prototypical(xs @ kernel + bias, ys, xq @ kernel + bias, yq, LAYOUT["ways"])
            for xs, ys, xq, yq in numpy_episodes(flat)
        ]
    )
    value, aux = method.loss(params, inputs)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    assert aux.features.shape == (16, 3)


def numpy_weights(params):
    """(W1, b1, W2, b2): the linear backbone and the ways-way head, in float64."""
    backbone, head = params["backbone"]["dense"], params["projector"]["out"]
    return [
        np.asarray(array, np.float64)
        for array in (backbone["kernel"], backbone["bias"], head["kernel"], head["bias"])
    ]


def numpy_cross_entropy(weights, x, labels):
    """(mean cross-entropy of softmax(f(x) W2 + b2), its gradient (dW1, db1, dW2, db2)), written by hand."""
    w1, b1, w2, b2 = weights
    features = x @ w1 + b1
    logits = features @ w2 + b2
    logits = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    value = -np.mean(np.log(probabilities[np.arange(len(x)), labels]))
    g_logits = (probabilities - np.eye(w2.shape[1])[labels]) / len(x)
    g_features = g_logits @ w2.T
    return value, [x.T @ g_features, g_features.sum(0), features.T @ g_logits, g_logits.sum(0)]


def numpy_adapted(weights, xs, ys, inner_steps, inner_lr):
    """The weights after `inner_steps` hand-written gradient steps of rate `inner_lr` on (xs, ys)."""
    adapted = list(weights)
    for _ in range(inner_steps):
        _, grads = numpy_cross_entropy(adapted, xs, ys)
        adapted = [w - inner_lr * g for w, g in zip(adapted, grads, strict=True)]
    return adapted


def numpy_maml(weights, flat, inner_steps, inner_lr):
    """(MAML's loss, its first-order gradient): per episode, `inner_steps` hand-written gradient steps on the
    support set, then the query cross-entropy at the adapted weights and its gradient there."""
    values, gradients = [], []
    for xs, ys, xq, yq in numpy_episodes(flat):
        adapted = numpy_adapted(weights, xs, ys, inner_steps, inner_lr)
        value, grads = numpy_cross_entropy(adapted, xq, yq)
        values.append(value)
        gradients.append(grads)
    return np.mean(values), [np.mean(per_episode, axis=0) for per_episode in zip(*gradients, strict=True)]


INNER = dict(inner_steps=2, inner_lr=0.5)


def test_maml_loss_and_gradients_match_a_hand_written_inner_loop():
    first, params, inputs, flat = linear_method("maml", first_order=True, **INNER)
    second, _, _, _ = linear_method("maml", first_order=False, **INNER)
    weights = numpy_weights(params)
    expected, first_order_gradient = numpy_maml(weights, flat, **INNER)
    (value_first, _), grads_first = jax.value_and_grad(first.loss, has_aux=True)(params, inputs)
    (value_second, _), grads_second = jax.value_and_grad(second.loss, has_aux=True)(params, inputs)
    np.testing.assert_allclose(value_first, expected, rtol=1e-5)
    np.testing.assert_allclose(value_second, expected, rtol=1e-5)
    for got, want in zip(numpy_weights(grads_first), first_order_gradient, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    # The second-order gradient is the loss's own derivative: a central difference of the numpy loss along a
    # random direction; the first-order one, which holds each inner gradient constant, is not.
    direction = [np.random.default_rng(4).normal(size=w.shape) for w in weights]
    epsilon = 1e-5
    shifted = [
        numpy_maml([w + sign * epsilon * d for w, d in zip(weights, direction, strict=True)], flat, **INNER)[
            0
        ]
        for sign in (1, -1)
    ]
    numeric = (shifted[0] - shifted[1]) / (2 * epsilon)

    def along(grads):
        return sum(np.sum(g * d) for g, d in zip(numpy_weights(grads), direction, strict=True))

    np.testing.assert_allclose(along(grads_second), numeric, rtol=1e-3)
    assert abs(along(grads_first) - numeric) > 0.05 * abs(numeric)


@pytest.mark.parametrize(
    ("method", "changes", "message"),
    [
        ("protonet", {"data.classes": (0,)}, r"2-way episodes need 2 classes; the class list \[0\] has 1"),
        ("protonet", {"method.queries": 7}, "1 shots \\+ 7 queries per class need 8 rows of each class"),
        ("protonet", {"method.queries": 2}, "must hold whole episodes of 2 x \\(1 \\+ 2\\) = 6 rows"),
        (
            "maml",
            {"method.ways": 11, "train.batch_size": 88},
            "11-way episodes need 11 classes; the dataset has 10",
        ),
        ("maml", {"method.inner_steps": 0}, "maml's inner_steps must be an int >= 1"),
    ],
)
def test_episodes_that_cannot_be_drawn_are_refused_before_anything_compiles(
    method, changes, message, fashion_dir
):
    config = tiny_config(method, fashion_dir)
    for key, value in changes.items():
        block, name = key.split(".")
        config[block][name] = value
    with pytest.raises(ValueError, match=message):
        experiment.prepare(config)


def test_a_dataset_without_labels_has_no_episodes():
    with pytest.raises(ValueError, match="this training split has no labelled example"):
        parts.episodes_of_split(np.full(50, -1), count=1, ways=2, shots=1, queries=1)
    context = linear_context(num_classes=0)
    for name in ("protonet", "maml"):
        with pytest.raises(ValueError, match=f"{name} trains on episodes of labelled classes"):
            METHODS[name](context, **LAYOUT)


def test_tiny_sets_its_own_episodes():
    config = tiny_config("protonet", "unused")
    assert dict(config.method) == {"name": "protonet", "ways": 2, "shots": 1, "queries": 3}
    with pytest.raises(ValueError, match=r"tiny=true sets its own episodes .* drop \['shots'\]"):
        tiny_config("maml", "unused", options="shots=2")


def test_maml_adapts_an_episode_of_any_shot_count_as_its_inner_loop():
    method, params, _, _ = linear_method("maml", **INNER)
    rng = np.random.default_rng(5)
    support, query = rng.uniform(size=(6, 2, 2, 1)), rng.uniform(size=(4, 2, 2, 1))  # 3 shots, trained on 2
    labels = np.repeat(np.arange(LAYOUT["ways"]), 3)
    flat_support, flat_query = (((x - MEAN) / STD).reshape(len(x), -1) for x in (support, query))
    w1, b1, w2, b2 = numpy_adapted(numpy_weights(params), flat_support, labels, **INNER)
    logits = method.adapt_episode(
        {"params": params, "batch_stats": {}}, jnp.asarray(support), jnp.asarray(query), jax.random.key(0)
    )
    np.testing.assert_allclose(logits, (flat_query @ w1 + b1) @ w2 + b2, rtol=1e-5, atol=1e-6)
    assert METHODS["protonet"](linear_context(num_classes=10), **LAYOUT).adapt_episode is None


def test_the_episodes_protocol_records_maml_adapting_to_each_episode(fashion_dir, tmp_path, caplog):
    config = tiny_config("maml", fashion_dir)
    # 2-way episodes as the head has, of what the miniature eval split holds; no fine-tuning classifier
    config.fewshot.update(
        ways=config.method.ways, episode_shots=(1,), queries=2, episodes=6, finetune_shots=()
    )
    (record,) = runner.evaluate(config, str(tmp_path / "run"), protocols=("episodes",), init="random")
    adapted = record["classifiers"]["adapted"]
    assert adapted["episodes"] == record["episodes"] and 0.0 <= adapted["top1"] <= 1.0
    method = experiment.prepare(config).method
    assert fewshot.adapts_to(method, config.method.ways) and not fewshot.adapts_to(method, 3)
    assert "maml adapts a 2-way head, the protocol draws 3-way episodes" in caplog.text
