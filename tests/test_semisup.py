"""Semi-supervised runs: batches made of a labelled and an unlabelled part, their checks, the weak and strong
views, FixMatch's loss wiring, and evaluation on the EMA weights."""

import dataclasses
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import fixmatch as fixmatch_config
from jaxssl import augment, batch_streams, experiment, losses, models, run_state, train, validate
from jaxssl import step as step_lib
from jaxssl.data import parts as parts_lib
from jaxssl.data import pipeline, subsets
from jaxssl.data.records import ArraySource
from jaxssl.evaluation import runner
from jaxssl.methods import METHODS, LossInputs, MethodContext
from jaxssl.methods import semisup as semisup_lib
from jaxssl.probes import embed
from jaxssl.rundir import jsonl
from jaxssl.state import TrainState, evaluated_weights
from jaxssl.weights import export
from jaxssl.weights import load as import_weights
from tests.helpers import assert_same_backbone, executables_of_a_run, saved_run, tiny_config

LABELS = np.arange(120) % 10
SOURCE = ArraySource(
    images=np.arange(120, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 1), np.uint8),
    labels=LABELS,
)


def semisup_parts(global_batch=16, mu=3, per_class=2, seed=0):
    return subsets.semisupervised_parts(
        LABELS, global_batch, mu=mu, labels_per_class=per_class, label_fraction=0.0, label_seed=seed
    )


def test_each_part_draws_its_own_rows_and_shows_its_labels():
    parts = semisup_parts()
    labelled = set(parts[0].indices)
    assert parts[0].batch == 4 and parts[1].batch == 12
    seen_labelled = []
    for step in range(5):  # 20 labelled rows, 4 per step: one epoch of the labelled part
        indices, shown = parts_lib.batch_rows(step, parts=parts, labels=LABELS, seed=3)
        assert set(indices[:4]) <= labelled
        np.testing.assert_array_equal(shown[:4], LABELS[indices[:4]])
        assert np.all(shown[4:] == -1)
        seen_labelled.extend(indices[:4])
    assert sorted(seen_labelled) == sorted(labelled)  # each labelled row once per epoch of its part
    unlabelled = np.concatenate(
        [parts_lib.batch_rows(step, parts=parts, labels=LABELS, seed=3)[0][4:] for step in range(10)]
    )
    assert sorted(unlabelled) == list(range(120))  # the pool is the whole split, walked in its own epochs


def test_one_part_of_the_whole_source_keeps_every_earlier_batch():
    for step in (0, 7, 19):
        indices, shown = parts_lib.batch_rows(step, parts=(parts_lib.Part(16),), labels=LABELS, seed=5)
        np.testing.assert_array_equal(
            indices, parts_lib.example_indices(step, num_examples=120, global_batch=16, seed=5)
        )
        np.testing.assert_array_equal(shown, LABELS[indices])


def batches(parts, start, steps, rows=None):
    dataset = pipeline.train_dataset(
        SOURCE, global_batch=16, seed=1, start_step=start, num_steps=steps, rows=rows, parts=parts
    )
    return list(pipeline.as_numpy(dataset))


def test_batches_resume_and_process_rows_concatenate_to_the_global_batch():
    parts = semisup_parts()
    whole = batches(parts, 0, 6)
    resumed = batches(parts, 3, 6)
    first, second = batches(parts, 0, 6, range(0, 8)), batches(parts, 0, 6, range(8, 16))
    for step in range(6):
        if step >= 3:
            for name in ("image", "label", "index"):
                np.testing.assert_array_equal(resumed[step - 3][name], whole[step][name])
        for name in ("image", "label", "index"):
            np.testing.assert_array_equal(
                np.concatenate([first[step][name], second[step][name]]), whole[step][name]
            )
        np.testing.assert_array_equal(whole[step]["image"][:, 0, 0, 0, 0], whole[step]["index"])
        assert np.all(whole[step]["label"][4:] == -1) and np.all(whole[step]["label"][:4] >= 0)
        np.testing.assert_array_equal(whole[step]["true_label"], LABELS[whole[step]["index"]])
    assert "true_label" not in batches(None, 0, 1)[0]  # nothing hidden, nothing extra


@pytest.mark.parametrize(
    "parts, message",
    [
        ((parts_lib.Part(8), parts_lib.Part(4)), "add up to the global batch 16"),
        ((parts_lib.Part(16, indices=np.array([3, 200])),), "must draw from some of the source's 120 rows"),
        ((parts_lib.Part(16, labels=np.zeros(5)),), "shows 5 labels for 120 rows"),
    ],
)
def test_inconsistent_parts_are_refused(parts, message):
    with pytest.raises(ValueError, match=message):
        batches(parts, 0, 1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mu=-1), "mu must be an int >= 0"),
        (dict(global_batch=18), "does not split into 1 \\+ mu = 4 equal shares"),
    ],
)
def test_semisupervised_parts_check_mu_and_the_batch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        semisup_parts(**kwargs)
    with pytest.raises(ValueError, match="no labels"):
        subsets.semisupervised_parts(
            np.full(10, -1), 8, mu=1, labels_per_class=1, label_fraction=0.0, label_seed=0
        )


@pytest.mark.parametrize(
    "update, message",
    [
        (dict(lables_per_class=4), r"unknown key\(s\) \['lables_per_class'\] in config.semisup"),
        (dict(labels_per_class=0, label_fraction=0.0), "exactly one of them"),
        (dict(labels_per_class=2, label_fraction=0.1), "exactly one of them"),
        (dict(mu=2), "1 \\+ mu dividing config.train.batch_size \\(16\\)"),
    ],
)
def test_a_bad_semisup_block_is_one_clear_error_before_anything_loads(update, message):
    config = fixmatch_config.get_config("dataset=fashion_mnist,tiny=1")
    with config.unlocked():
        config.semisup.update(update)
    with pytest.raises(ValueError, match=message):
        validate.check_config(config)


def test_a_semisupervised_method_without_a_labelled_part_is_refused(fashion_dir):
    config = tiny_config("fixmatch", fashion_dir, steps=1)
    with config.unlocked():
        del config.semisup
    with pytest.raises(
        ValueError, match="fixmatch trains on labelled and unlabelled rows: set config.semisup"
    ):
        experiment.prepare(config)


def test_fixmatch_config_splits_the_label_count_over_the_classes():
    config = fixmatch_config.get_config("dataset=cifar100,labels=2500")
    assert config.semisup.labels_per_class == 25 and config.train.batch_size == 512
    assert config.model.backbone == "wide_resnet28_8" and config.optim.weight_decay == 1e-3
    with pytest.raises(ValueError, match="does not split evenly"):
        fixmatch_config.get_config("dataset=cifar10,labels=45")


def test_fixmatch_views_are_the_papers_weak_and_strong():
    weak, strong = augment.fixmatch_views(32)
    assert not weak.random_crop and weak.translate == 0.125 and weak.jitter_prob == 0 and weak.gray_prob == 0
    assert dataclasses.replace(strong, randaugment_ops=0, cutout=0.0) == weak
    assert strong.randaugment_ops == 2 and strong.cutout == 0.5
    images = jax.random.randint(jax.random.key(0), (4, 1, 32, 32, 3), 0, 256).astype(jnp.uint8)
    make_views = jax.jit(augment.make_views, static_argnums=2)
    weak_images, strong_images = make_views(jax.random.key(1), images, (weak, strong))
    assert weak_images.shape == strong_images.shape == (4, 32, 32, 3)
    assert np.abs(np.asarray(weak_images) - np.asarray(strong_images)).mean() > 0.01
    with pytest.raises(ValueError, match="randaugment_magnitude"):
        augment.ViewSpec(size=8, randaugment_magnitude=(0.5, 0.2))
    with pytest.raises(ValueError, match="translate"):
        augment.ViewSpec(size=8, translate=0.7)


def micro_semisup(name, batch=16, labelled=4, **kwargs):
    context = MethodContext(
        backbone=models.make_backbone("resnet_micro"),
        image_mean=(0.5,),
        image_std=(0.25,),
        dtype=jnp.float32,
        num_examples=64,
        global_batch=batch,
        image_size=16,
        num_classes=10,
        labelled_batch=labelled,
    )
    return METHODS[name](context, **kwargs)


def semisup_inputs(method, views=2, step=0):
    """Fresh variables of a micro semi-supervised method and LossInputs of 4 labelled and 12 unlabelled rows;
    the target is another initialisation (an EMA that has moved away)."""
    key = jax.random.key(0)
    images = [jax.random.uniform(jax.random.fold_in(key, v), (16, 16, 16, 1)) for v in range(views)]
    labels = jnp.concatenate([jnp.array([1, 2, 3, 4]), jnp.full((12,), -1)]).astype(jnp.int32)
    variables = method.network.init(jax.random.key(1), images[0], train=True)
    target = method.network.init(jax.random.key(5), images[0], train=True)
    inputs = LossInputs(
        batch_stats=variables["batch_stats"],
        target=target,
        extra={},
        views=images,
        indices=jnp.arange(16),
        labels=labels,
        step=jnp.asarray(step),
        key=jax.random.key(2),
    )
    return variables, inputs


def test_fixmatch_loss_is_the_labelled_ce_plus_the_weighted_unlabelled_term_over_one_batchnorm_batch():
    method = micro_semisup("fixmatch", threshold=0.1, unlabelled_weight=0.5)
    variables, inputs = semisup_inputs(method)
    weak, strong = inputs.views
    labels = inputs.labels
    value, aux = method.loss(variables["params"], inputs)
    outputs, _ = method.network.apply(
        variables, jnp.concatenate([weak, strong[4:]]), train=True, mutable=["batch_stats"]
    )
    logits = outputs["logits"]
    supervised = optax.softmax_cross_entropy_with_integer_labels(logits[:4], labels[:4]).mean()
    unlabelled, mask_rate = losses.fixmatch_unlabelled(logits[4:16], logits[16:], 0.1)
    np.testing.assert_allclose(value, supervised + 0.5 * unlabelled, rtol=1e-5)
    assert float(aux.metrics["mask_rate"]) == pytest.approx(float(mask_rate)) and float(mask_rate) > 0
    assert aux.features.shape[0] == 16
    assert method.eval_weights == "target" and float(method.target_decay(5, 10)) == pytest.approx(0.999)
    expected_pseudo, confident = losses.confident_pseudo_labels(logits[4:16], 0.1)
    np.testing.assert_array_equal(aux.pseudo_labels, np.concatenate([[-1] * 4, expected_pseudo]))
    assert np.all(np.asarray(expected_pseudo)[~np.asarray(confident)] == -1)


def test_pseudo_label_accuracy_counts_the_pseudo_labelled_rows_only():
    pseudo, truth = jnp.array([-1, 3, 3, -1, 2]), jnp.array([3, 3, 1, 0, 2])
    assert float(step_lib.pseudo_label_top1(pseudo, truth)) == pytest.approx(2 / 3)
    assert np.isnan(float(step_lib.pseudo_label_top1(jnp.full(5, -1), truth)))  # no accuracy yet


def test_fixmatch_refuses_a_threshold_out_of_range():
    with pytest.raises(ValueError, match=r"threshold must lie in \(0, 1\]"):
        micro_semisup("fixmatch", threshold=1.5)


def test_evaluation_reads_the_ema_weights_of_a_method_that_evaluates_them():
    state = TrainState(
        step=0,
        params={"model": "online"},
        batch_stats="online stats",
        target={"params": "ema", "batch_stats": "ema stats"},
        opt_state=None,
        extra={},
        crop={},
    )
    assert evaluated_weights(state, "target") == ("ema", "ema stats")
    assert evaluated_weights(state, "online") == ("online", "online stats")


def test_fixmatch_trains_resumes_exactly_and_is_evaluated_on_its_ema_weights(fashion_dir, tmp_path):
    uninterrupted, resumed = str(tmp_path / "a"), str(tmp_path / "b")
    config = tiny_config("fixmatch", fashion_dir, steps=4)
    with config.unlocked():
        config.eval.every_steps = 4
    final = train.run(config, uninterrupted)
    lines = jsonl.read(os.path.join(uninterrupted, "metrics.jsonl"))
    train_lines = [line for line in lines if line["split"] == "train"]
    assert [line["step"] for line in train_lines] == [1, 2, 3, 4]
    assert all(0.0 <= line["mask_rate"] <= 1.0 and np.isfinite(line["supervised_ce"]) for line in train_lines)
    # the pseudo-labels' accuracy has a value once a row passed the threshold, NaN before
    accuracy = [(line["mask_rate"], line["pseudo_label_top1"]) for line in train_lines]
    assert all(0.0 <= top1 <= 1.0 if rate > 0 else np.isnan(top1) for rate, top1 in accuracy)
    (eval_line,) = [line for line in lines if line["split"] == "eval"]
    # the online evaluation's own-classifier top-1 is the EMA network's, not the online one's
    exp = experiment.prepare(config)
    assert executables_of_a_run(exp, num_steps=4) == 1  # the parts and views never retrace the step
    compiled = embed.compile_embed(
        step_lib.make_embed_fn(exp.method.network, exp.image_size, with_logits=True), exp.mesh
    )

    def embed_eval_split(weights):
        return embed.embed_split(
            compiled, weights, batch_streams.eval_batches(exp, exp.eval_source, 16), exp.mesh
        )

    held_out = embed_eval_split(evaluated_weights(final, "target"))
    online = embed_eval_split((final.params["model"], final.batch_stats))
    top1 = lambda out: float(np.mean(np.argmax(out["logits"], -1) == out["label"]))  # noqa: E731
    assert eval_line["classifier_top1"] == pytest.approx(top1(held_out))
    assert not np.allclose(held_out["logits"], online["logits"])
    (offline,) = runner.evaluate(config, uninterrupted, protocols=("classifier",))
    assert offline["top1"] == pytest.approx(eval_line["classifier_top1"]) and offline["step"] == 4
    top5 = np.argsort(-held_out["logits"], axis=1, kind="stable")[:, :5] == held_out["label"][:, None]
    assert offline["top5"] == pytest.approx(np.mean(top5.any(axis=1)))  # ten classes: top-5 is recorded
    os.makedirs(os.path.join(resumed, "checkpoints"))
    shutil.copytree(
        os.path.join(uninterrupted, "checkpoints", "2"), os.path.join(resumed, "checkpoints", "2")
    )
    # the resumed run also evaluates at step 3: an evaluation does not change what is trained
    with config.unlocked():
        config.eval.every_steps = 1
    again = train.run(config, resumed)
    with open(os.path.join(resumed, "metrics.jsonl")) as f:
        resumed_evals = [line["step"] for line in map(json.loads, f) if line["split"] == "eval"]
    assert resumed_evals == [3, 4]
    for a, b in zip(
        jax.tree.leaves((again.params, again.target)),
        jax.tree.leaves((final.params, final.target)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_the_classifier_protocol_refuses_a_network_without_a_classifier(fashion_dir, tmp_path):
    with pytest.raises(ValueError, match="simclr's network has none"):
        runner.evaluate(tiny_config("simclr", fashion_dir, steps=1), str(tmp_path), protocols=("classifier",))
    assert not os.listdir(tmp_path)


def test_ramps_rise_from_zero_to_one():
    ramp = [float(semisup_lib.linear_ramp(step, 10, 20)) for step in (0, 10, 15, 20, 30)]
    assert ramp == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    sigmoid = [float(semisup_lib.sigmoid_ramp(step, 100)) for step in (0, 50, 100, 200)]
    assert sigmoid == pytest.approx([np.exp(-5.0), np.exp(-1.25), 1.0, 1.0])


def test_pseudo_label_loss_is_the_labelled_ce_plus_its_ramped_hard_labels_from_the_same_forward():
    method = micro_semisup(
        "pseudo_label", threshold=0.1, unlabelled_weight=3.0, ramp_start_steps=2, ramp_end_steps=6
    )
    variables, inputs = semisup_inputs(method, views=1, step=4)
    value, aux = method.loss(variables["params"], inputs)
    outputs, _ = method.network.apply(variables, inputs.views[0], train=True, mutable=["batch_stats"])
    logits = outputs["logits"]
    supervised = optax.softmax_cross_entropy_with_integer_labels(logits[:4], inputs.labels[:4]).mean()
    unlabelled, _ = losses.fixmatch_unlabelled(logits[4:], logits[4:], 0.1)
    np.testing.assert_allclose(value, supervised + 3.0 * 0.5 * unlabelled, rtol=1e-5)
    assert float(aux.metrics["unlabelled_weight"]) == pytest.approx(1.5)
    assert method.eval_weights == "online" and not method.uses_target
    assert np.all(np.asarray(aux.pseudo_labels[:4]) == -1)


def test_mean_teacher_loss_is_the_labelled_ce_plus_the_ramped_consistency_with_the_ema_teacher():
    method = micro_semisup(
        "mean_teacher", consistency_weight=10.0, ramp_up_steps=8, ema_during_ramp_up=0.9, ema=0.99
    )
    variables, inputs = semisup_inputs(method, views=2, step=4)
    value, aux = method.loss(variables["params"], inputs)
    student, _ = method.network.apply(variables, inputs.views[0], train=True, mutable=["batch_stats"])
    teacher, _ = method.network.apply(inputs.target, inputs.views[1], train=True, mutable=["batch_stats"])
    supervised = optax.softmax_cross_entropy_with_integer_labels(
        student["logits"][:4], inputs.labels[:4]
    ).mean()
    consistency = np.mean((jax.nn.softmax(student["logits"]) - jax.nn.softmax(teacher["logits"])) ** 2)
    weight = 10.0 * np.exp(-5.0 * 0.5**2)
    np.testing.assert_allclose(value, supervised + weight * consistency, rtol=1e-5)
    grads = jax.grad(
        lambda target: method.loss(variables["params"], dataclasses.replace(inputs, target=target))[0]
    )(inputs.target)
    assert all(np.all(leaf == 0) for leaf in jax.tree.leaves(grads))  # the teacher is not differentiated
    assert [float(method.target_decay(step, 100)) for step in (0, 7, 8)] == pytest.approx([0.9, 0.9, 0.99])
    assert method.eval_weights == "target"


def test_mixmatch_loss_follows_the_papers_algorithm():
    method = micro_semisup("mixmatch", temperature=0.5, alpha=0.75, unlabelled_weight=8.0, ramp_up_steps=8)
    variables, inputs = semisup_inputs(method, views=2, step=2)
    value, aux = method.loss(variables["params"], inputs)

    def apply(images):
        return method.network.apply(variables, images, train=True, mutable=["batch_stats"])[0]["logits"]

    views = inputs.views
    # algorithm 1, line by line: K = 2 augmentations of each unlabelled row, their averaged, sharpened guess
    average = (
        sum(
            jax.nn.softmax(apply(jnp.concatenate([v[4:] for v in views]))[12 * k : 12 * (k + 1)])
            for k in (0, 1)
        )
        / 2
    )
    guess = average**2 / jnp.sum(average**2, axis=-1, keepdims=True)
    x_hat = (views[0][:4], jax.nn.one_hot(inputs.labels[:4], 10))
    u_hat = (jnp.concatenate([views[0][4:], views[1][4:]]), jnp.concatenate([guess, guess]))
    mixed, targets = losses.mixup(
        jax.random.fold_in(inputs.key, 0),
        jnp.concatenate([x_hat[0], u_hat[0]]),
        jnp.concatenate([x_hat[1], u_hat[1]]),
        0.75,
    )
    logits = apply(mixed)
    supervised = np.mean(-np.sum(targets[:4] * jax.nn.log_softmax(logits[:4]), axis=-1))
    consistency = np.mean((jax.nn.softmax(logits[4:]) - targets[4:]) ** 2)
    np.testing.assert_allclose(value, supervised + 8.0 * 0.25 * consistency, rtol=1e-4)
    np.testing.assert_array_equal(aux.pseudo_labels[4:], jnp.argmax(guess, axis=-1))
    assert aux.features.shape[0] == 16 and method.eval_weights == "target"


def test_co_training_networks_teach_each_other_their_confident_labels_on_their_own_views():
    method = micro_semisup("co_training", threshold=0.1, unlabelled_weight=0.5)
    variables, inputs = semisup_inputs(method)
    value, aux = method.loss(variables["params"], dataclasses.replace(inputs, key=None))
    outputs, _ = method.network.apply(
        variables, tuple(inputs.views), train=True, mutable=["batch_stats"], method="pair"
    )
    first, second = outputs["first"], outputs["second"]
    labels = inputs.labels[:4]
    supervised = sum(
        optax.softmax_cross_entropy_with_integer_labels(logits[:4], labels).mean()
        for logits in (first, second)
    )
    taught_first, _ = losses.fixmatch_unlabelled(second[4:], first[4:], 0.1)
    taught_second, _ = losses.fixmatch_unlabelled(first[4:], second[4:], 0.1)
    np.testing.assert_allclose(value, supervised + 0.5 * (taught_first + taught_second), rtol=1e-5)
    assert not np.allclose(first, second)  # two networks, two initialisations, two views
    params = variables["params"]
    assert {"backbone", "classifier", "second_backbone", "second_classifier"} == set(params)
    # the contract: the first network's features, the pair's averaged prediction as the classifier
    image = inputs.views[0]
    features = method.network.apply(variables, image, train=False, method="features")
    both = method.network.apply(variables, image, train=False)
    np.testing.assert_allclose(both["features"], features, rtol=1e-6)
    mean = (jax.nn.softmax(both["first"]) + jax.nn.softmax(both["second"])) / 2
    np.testing.assert_allclose(jnp.exp(both["logits"]), mean, rtol=1e-5)
    assert float(aux.metrics["agreement"]) == pytest.approx(
        float(jnp.mean(jnp.argmax(first[4:], -1) == jnp.argmax(second[4:], -1)))
    )


def test_the_supervised_baseline_is_the_labelled_ce_evaluated_on_its_ema_and_refuses_unlabelled_rows():
    method = micro_semisup("supervised", labelled=16, ema=0.9)
    variables, inputs = semisup_inputs(method, views=1)
    labels = jnp.arange(16, dtype=jnp.int32) % 10
    value, aux = method.loss(variables["params"], dataclasses.replace(inputs, labels=labels))
    outputs, _ = method.network.apply(variables, inputs.views[0], train=True, mutable=["batch_stats"])
    expected = optax.softmax_cross_entropy_with_integer_labels(outputs["logits"], labels).mean()
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    assert method.eval_weights == "target" and float(method.target_decay(0, 10)) == pytest.approx(0.9)
    assert aux.pseudo_labels is None
    with pytest.raises(ValueError, match="labelled rows alone"):
        micro_semisup("supervised", labelled=4)


def test_deep_co_training_is_the_supervised_pair_plus_the_ramped_agreement_and_view_difference():
    method = micro_semisup(
        "deep_co_training",
        cot_weight=10.0,
        dif_weight=0.5,
        epsilon=0.05,
        ramp_up_steps=8,
    )
    variables, inputs = semisup_inputs(method, views=1, step=4)
    value, aux = method.loss(variables["params"], dataclasses.replace(inputs, key=None))
    view = inputs.views[0]

    def pair(first_images, second_images):
        return method.network.apply(
            variables, (first_images, second_images), train=True, mutable=["batch_stats"], method="pair"
        )[0]

    clean = pair(view, view)
    first, second = clean["first"], clean["second"]
    labels = inputs.labels[:4]
    supervised = sum(
        optax.softmax_cross_entropy_with_integer_labels(logits[:4], labels).mean()
        for logits in (first, second)
    )
    agreement = losses.jensen_shannon(first[4:], second[4:])

    def fgsm(name, logits):
        # the true labels of the labelled rows, the network's own prediction on the others
        targets = jnp.concatenate([labels, jnp.argmax(logits[4:], -1)])
        pick = (lambda x: pair(x, view)) if name == "first" else (lambda x: pair(view, x))
        grad = jax.grad(
            lambda x: optax.softmax_cross_entropy_with_integer_labels(pick(x)[name], targets).sum()
        )(view)
        return view + 0.05 * jnp.sign(grad), grad

    first_attacked, first_grad = fgsm("first", first)
    second_attacked, _ = fgsm("second", second)
    moved = np.abs(np.asarray(first_attacked - view))
    np.testing.assert_allclose(moved[np.asarray(first_grad) != 0], 0.05, rtol=1e-5)
    crossed = pair(second_attacked, first_attacked)
    difference = losses.soft_cross_entropy(
        crossed["second"], jax.nn.softmax(first)
    ) + losses.soft_cross_entropy(crossed["first"], jax.nn.softmax(second))
    ramp = np.exp(-5.0 * 0.5**2)
    np.testing.assert_allclose(value, supervised + ramp * (10.0 * agreement + 0.5 * difference), rtol=1e-5)
    assert float(aux.metrics["ramp"]) == pytest.approx(ramp)
    assert float(difference) > 0 and float(agreement) > 0
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        micro_semisup("deep_co_training", epsilon=-0.1)


def test_a_deep_co_training_step_attacks_both_networks_and_compiles_once(fashion_dir):
    config = tiny_config("deep_co_training", fashion_dir, steps=2)
    assert config.augment.count == 1
    assert executables_of_a_run(experiment.prepare(config), num_steps=2) == 1


def test_a_self_supervised_backbone_starts_fixmatch_and_its_ema_and_another_backbone_is_refused(
    fashion_dir, tmp_path
):
    # Pretrain, then semi-supervise: SimCLR's exported backbone (--mode=export) as FixMatch's
    # --config.init.weights, or its run directory as --config.init.workdir; FixMatch's classifier network
    # keeps the same "backbone" subtree.
    simclr = tiny_config("simclr", fashion_dir, steps=1)
    simclr_dir = str(tmp_path / "simclr")
    _, pretrained = saved_run(simclr, simclr_dir)
    path = export.export(simclr, simclr_dir, naming="native")
    config = tiny_config("fixmatch", fashion_dir, steps=1)
    exp = experiment.prepare(config)
    layout = run_state.state_layout(exp)
    for initial in (
        import_weights.backbone_from_file(path, layout),
        import_weights.backbone_from_run(simclr_dir, layout),
    ):
        started = import_weights.with_backbone(run_state.create_state(exp, layout), initial, layout)
        assert_same_backbone(started, pretrained)
    with config.unlocked():
        config.init.update(weights=path, workdir=simclr_dir)
    with pytest.raises(ValueError, match="a run starts from one of them"):
        validate.check_config(config)
    for a, b in zip(
        jax.tree.leaves(jax.device_get(started.target["params"]["backbone"])),
        jax.tree.leaves(jax.device_get(pretrained.params["model"]["backbone"])),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)  # the evaluated EMA starts from the pretrained backbone too
    vit = experiment.prepare(tiny_config("fixmatch", fashion_dir, steps=1, options="backbone=vit_small"))
    with pytest.raises(import_weights.InitWeightsError, match="does not fit this run's backbone"):
        import_weights.backbone_from_file(path, run_state.state_layout(vit))
    with pytest.raises(
        import_weights.InitWeightsError, match=f"config.init.workdir='{simclr_dir}'.*does not fit"
    ):
        import_weights.backbone_from_run(simclr_dir, run_state.state_layout(vit))
