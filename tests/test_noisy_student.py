"""Noisy Student: the teacher's confident, class-balanced pseudo-labels, soft labels riding with their rows,
the student's loss, one round end to end with its resume, its bad inputs, and the rounds' launcher."""

import dataclasses
import json
import os
import shutil
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import noisy_student as noisy_student_config
from jaxssl import augment, experiment, teacher, train, validate
from jaxssl.data import parts as parts_lib
from jaxssl.data import pipeline, subsets
from jaxssl.data.records import ArraySource
from jaxssl.models import resnet, wide_resnet
from jaxssl.state import evaluated_weights
from tests.helpers import REPO
from tests.test_semisup import micro_semisup, semisup_inputs

sys.path.insert(0, os.path.join(REPO, "launch"))
import noisy_student as launcher  # noqa: E402


def test_confident_rows_are_filtered_the_most_confident_kept_and_rare_classes_duplicated():
    probabilities = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.5, 0.3, 0.2],
            [0.7, 0.2, 0.1],
            [0.95, 0.05, 0.0],
            [0.4, 0.3, 0.3],  # class 0, below the threshold
            [0.1, 0.8, 0.1],
            [0.2, 0.6, 0.2],
            [0.3, 0.4, 0.3],  # class 1, below the threshold
            [0.2, 0.36, 0.44],  # class 2's only row, below the threshold
        ]
    )
    rows = subsets.confident_balanced_rows(probabilities, threshold=0.45, per_class=3, seed=0)
    assert list(rows[:3]) == [3, 0, 2]  # class 0: its 3 most confident of 4 above 0.45 (row 4 is below)
    assert sorted(rows[3:]) in ([5, 5, 6], [5, 6, 6])  # class 1: both confident rows, one of them twice
    assert len(rows) == 6  # class 2: no confident row, none drawn
    again = subsets.confident_balanced_rows(probabilities, threshold=0.45, per_class=3, seed=0)
    np.testing.assert_array_equal(rows, again)
    with pytest.raises(ValueError, match="threshold must lie in"):
        subsets.confident_balanced_rows(probabilities, threshold=1.0, per_class=3, seed=0)


def test_soft_labels_ride_with_their_rows_through_the_pipeline_and_a_resume():
    labels = np.arange(40) % 4
    source = ArraySource(
        images=np.arange(40, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8),
        labels=labels,
    )
    rows = np.array([5, 5, 9, 13, 2, 2, 2, 30])  # duplicates, as a balanced pool has
    soft = np.eye(4, dtype=np.float32)[(rows + 1) % 4]  # a function of the row: duplicates agree
    parts = (
        parts_lib.Part(4, indices=np.arange(8)),
        parts_lib.Part(4, indices=rows, labels=np.full(8, -1), soft_labels=soft),
    )

    def batches(start, rows_held=None):
        dataset = pipeline.train_dataset(
            source, global_batch=8, seed=2, start_step=start, num_steps=5, rows=rows_held, parts=parts
        )
        return list(pipeline.as_numpy(dataset))

    whole, resumed = batches(0), batches(3)
    halves = batches(0, range(0, 4)), batches(0, range(4, 8))
    for step, batch in enumerate(whole):
        assert np.all(batch["soft_label"][:4] == 0)  # the labelled rows train on their labels
        np.testing.assert_array_equal(batch["soft_label"][4:], np.eye(4)[(batch["index"][4:] + 1) % 4])
        assert set(batch["index"][4:]) <= set(rows) and np.all(batch["label"][4:] == -1)
        np.testing.assert_array_equal(
            np.concatenate([halves[0][step]["soft_label"], halves[1][step]["soft_label"]]),
            batch["soft_label"],
        )
        if step >= 3:
            np.testing.assert_array_equal(resumed[step - 3]["soft_label"], batch["soft_label"])
    with pytest.raises(ValueError, match="soft labels of shape"):
        parts_lib.check_parts((parts[0], dataclasses.replace(parts[1], soft_labels=soft[:5])), 8, 40)


def test_the_student_loss_is_the_labelled_ce_plus_the_soft_ce_on_the_teachers_rows():
    method = micro_semisup("noisy_student", unlabelled_weight=0.5, dropout=0.5)
    variables, inputs = semisup_inputs(method, views=1)
    soft = jax.nn.softmax(jax.random.normal(jax.random.key(3), (16, 10)))
    soft = jnp.concatenate([jnp.zeros((4, 10)), soft[4:]])
    quiet = dataclasses.replace(inputs, key=None, soft_labels=soft)  # no dropout: a deterministic forward
    value, aux = method.loss(variables["params"], quiet)
    outputs, _ = method.network.apply(variables, inputs.views[0], train=True, mutable=["batch_stats"])
    logits = outputs["logits"]
    supervised = optax.softmax_cross_entropy_with_integer_labels(logits[:4], inputs.labels[:4]).mean()
    unlabelled = optax.softmax_cross_entropy(logits[4:], soft[4:]).mean()
    np.testing.assert_allclose(value, supervised + 0.5 * unlabelled, rtol=1e-5)
    np.testing.assert_array_equal(aux.pseudo_labels[4:], jnp.argmax(soft[4:], -1))
    noisy, _ = method.loss(variables["params"], dataclasses.replace(inputs, soft_labels=soft))
    assert not np.isclose(noisy, value)  # with the loss key: dropout and the backbone's drop path act
    with pytest.raises(ValueError, match="need a teacher's pseudo-labels"):
        method.loss(variables["params"], inputs)
    first_teacher = micro_semisup("noisy_student", batch=16, labelled=16)
    variables, inputs = semisup_inputs(first_teacher, views=1)
    labelled = dataclasses.replace(inputs, labels=jnp.arange(16, dtype=jnp.int32) % 10, key=None)
    value, _ = first_teacher.loss(variables["params"], labelled)
    outputs, _ = first_teacher.network.apply(variables, inputs.views[0], train=True, mutable=["batch_stats"])
    expected = optax.softmax_cross_entropy_with_integer_labels(outputs["logits"], labelled.labels).mean()
    np.testing.assert_allclose(value, expected, rtol=1e-5)


@pytest.mark.parametrize("builder", [resnet.resnet_micro, wide_resnet.wide_resnet_micro])
def test_stochastic_depth_drops_whole_branches_in_training_only(builder):
    network = builder(drop_path=0.5)
    images = jax.random.uniform(jax.random.key(0), (8, 8, 8, 1))
    variables = network.init(jax.random.key(1), images, train=False)
    variables = jax.tree_util.tree_map_with_path(  # branches starting at zero (zero_scale) would hide a drop
        lambda path, x: jnp.ones_like(x) if path[-1].key == "scale" else x, variables
    )

    def train_mode(rngs):
        return network.apply(variables, images, train=True, mutable=["batch_stats"], rngs=rngs)[0]

    np.testing.assert_array_equal(train_mode({}), train_mode({}))  # no dropout rng: no drop
    dropped = train_mode({"dropout": jax.random.key(2)})
    assert not np.allclose(dropped, train_mode({}))
    np.testing.assert_array_equal(
        network.apply(variables, images, train=False), network.apply(variables, images, train=False)
    )
    with pytest.raises(ValueError, match="drop_path must be in"):
        builder(drop_path=1.0)


def student_config(fashion_dir, teacher_dir, steps=4):
    config = noisy_student_config.get_config(f"dataset=fashion_mnist,tiny=1,teacher={teacher_dir}")
    config.data.manual_dir = fashion_dir
    config.train.steps = steps
    config.teacher.per_class = 3  # 30 rows of the 64 training images, some repeated
    config.teacher.threshold = 0.0  # a 4-step teacher is confident of nothing
    config.eval.every_steps = steps
    return config


def test_a_noisy_student_round_learns_from_its_teachers_predictions_and_resumes_exactly(
    fashion_dir, tmp_path
):
    teacher_dir, student_dir, resumed_dir = (
        str(tmp_path / name) for name in ("teacher", "student", "resumed")
    )
    first = noisy_student_config.get_config("dataset=fashion_mnist,tiny=1")
    first.data.manual_dir = fashion_dir
    first.train.steps = 2
    assert first.train.batch_size == 16 and first.semisup.mu == 0
    taught = train.run(first, teacher_dir)
    config = student_config(fashion_dir, teacher_dir)
    final = train.run(config, student_dir)

    with np.load(os.path.join(student_dir, "pseudo_labels.npz")) as stored:
        probabilities, step = stored["probabilities"], int(stored["teacher_step"])
    assert step == 2 and probabilities.dtype == np.float16 and probabilities.shape == (64, 10)
    exp = experiment.prepare(first)  # the teacher's own classifier, not noised, on the training images
    images = augment.center_view(jnp.asarray(exp.train_source.images), exp.image_size)
    params, batch_stats = evaluated_weights(taught, exp.method.eval_weights)
    logits = exp.method.network.apply({"params": params, "batch_stats": batch_stats}, images, train=False)[
        "logits"
    ]
    np.testing.assert_allclose(probabilities, jax.nn.softmax(logits), atol=2e-3)

    student = teacher.with_pseudo_labels(experiment.prepare(config), config, student_dir)
    pool = student.parts[1]
    counts = np.bincount(probabilities[pool.indices].argmax(1), minlength=10)
    predicted = len(np.unique(probabilities.argmax(1)))  # a 2-step teacher predicts some classes only
    assert set(counts[counts > 0]) == {3} and len(pool.indices) == 3 * predicted
    np.testing.assert_array_equal(pool.soft_labels, probabilities[pool.indices].astype(np.float32))
    with open(os.path.join(student_dir, "metrics.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    train_lines = [line for line in lines if line["split"] == "train"]
    assert [line["step"] for line in train_lines] == [1, 2, 3, 4]
    assert all(
        np.isfinite(line["unlabelled_ce"]) and 0 <= line["pseudo_label_top1"] <= 1 for line in train_lines
    )
    assert "classifier_top1" in [line for line in lines if line["split"] == "eval"][0]

    os.makedirs(os.path.join(resumed_dir, "checkpoints"))
    shutil.copytree(
        os.path.join(student_dir, "checkpoints", "2"), os.path.join(resumed_dir, "checkpoints", "2")
    )
    shutil.copy(os.path.join(student_dir, "pseudo_labels.npz"), resumed_dir)
    shutil.rmtree(teacher_dir)  # a resumed student reads its own copy of the teacher's predictions
    again = train.run(config, resumed_dir)
    for a, b in zip(jax.tree.leaves(again.params), jax.tree.leaves(final.params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_student_without_a_usable_teacher_is_refused_before_anything_is_written(fashion_dir, tmp_path):
    student_dir = str(tmp_path / "student")
    with pytest.raises(FileNotFoundError, match="holds no run"):
        train.run(student_config(fashion_dir, str(tmp_path / "missing")), student_dir)
    other = tmp_path / "other"
    other.mkdir()
    config = student_config(fashion_dir, str(other))
    foreign = config.to_dict()
    foreign["data"]["dataset"] = "cifar10"
    (other / "config.json").write_text(json.dumps(foreign))
    with pytest.raises(ValueError, match="data.dataset='cifar10', the student has 'fashion_mnist'"):
        train.run(config, student_dir)
    assert not os.path.exists(student_dir)
    with config.unlocked():
        config.semisup.mu = 0
    with pytest.raises(
        ValueError, match="set config.teacher.workdir with config.semisup.mu >= 1, or neither"
    ):
        validate.check_config(config)
    with config.unlocked():
        config.teacher.threshold = 1.5
    with pytest.raises(ValueError, match="threshold in \\[0, 1\\)"):
        validate.check_config(config)


def test_a_teacher_without_a_checkpoint_is_named_and_left_as_it_was(fashion_dir, tmp_path):
    teacher_dir = tmp_path / "teacher"
    teacher_dir.mkdir()
    (teacher_dir / "config.json").write_text(student_config(fashion_dir, str(tmp_path / "first")).to_json())
    with pytest.raises(
        FileNotFoundError,
        match=f"no readable checkpoint in {teacher_dir}/checkpoints: train the teacher first",
    ):
        teacher.teacher_probabilities(str(teacher_dir))
    assert os.listdir(teacher_dir) == ["config.json"]  # no empty checkpoint directory left behind


def test_the_launcher_chains_each_round_to_the_one_before_and_grows_the_students(capsys):
    argv = [
        "--root=/runs/ns",
        "--rounds=2",
        "--config=configs/noisy_student.py:dataset=fashion_mnist",
        "--grow=model.width_multiplier=0.25,0.25,0.5",
        "--print",
        "--",
        "--config.data.manual_dir=/data",
    ]
    assert launcher.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6  # each run's training, then its evaluation by its own classifier
    assert "teacher=" not in lines[0] and "--workdir=/runs/ns/round0" in lines[0]
    assert "teacher=/runs/ns/round0" in lines[2] and "--workdir=/runs/ns/round1" in lines[2]
    assert "teacher=/runs/ns/round1" in lines[4] and "--config.model.width_multiplier=0.5" in lines[4]
    assert all("--mode=evaluate" in line and "--protocol=classifier" in line for line in lines[1::2])
    with pytest.raises(SystemExit, match="one value per run"):
        launcher.main(argv[:3] + ["--grow=model.width_multiplier=1,2", "--print"])
    supervised = "configs/supervised.py:dataset=fashion_mnist"
    assert launcher.main([argv[0], "--rounds=1", argv[2], f"--teacher_config={supervised}", "--print"]) == 0
    first, _, student, _ = capsys.readouterr().out.splitlines()
    assert f"--config={supervised} " in first and "--config=configs/noisy_student.py:" in student
    assert "teacher=/runs/ns/round0" in student


def test_the_noisy_view_is_randaugment_on_a_translated_flip():
    (spec,) = augment.noisy_student_views(28)
    assert spec.randaugment_ops == 2 and spec.randaugment_magnitude == (0.9, 0.9)
    assert not spec.random_crop and spec.translate == 0.125 and spec.cutout == 0.0
