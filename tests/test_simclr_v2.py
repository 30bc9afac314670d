"""SimCLR v2's chain: the distillation loss against eq. (2), fine-tuning from the first layer of the projection
head with its pretrained weights, the fine-tuned classifier's kept predictions teaching a student that resumes
bit-exactly, and the refusals of a teacher or head layer that cannot serve."""

import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from configs import simclr_v2 as simclr_v2_config
from configs import simclr_v2_distill as distill_config
from jaxssl import experiment, losses, sharding, teacher, train
from jaxssl.evaluation import runner
from jaxssl.models.classifier import Classifier
from jaxssl.probes import finetune
from tests.helpers import assert_same_tree, read_metrics


def numpy_distillation(student_logits, teacher_probabilities, temperature):
    """Eq. (2), example by example and class by class, the teacher tempered from its logits log p_T."""
    total = 0.0
    for z_student, p_teacher in zip(student_logits, teacher_probabilities, strict=True):
        tempered = np.exp(np.log(p_teacher) / temperature)
        teacher_tau = tempered / tempered.sum()
        student_tau = np.exp(z_student / temperature) / np.sum(np.exp(z_student / temperature))
        total -= sum(teacher_tau[y] * np.log(student_tau[y]) for y in range(len(z_student)))
    return total / len(student_logits)


def logits_and_teacher(seed, n=16, classes=5):
    rng = np.random.default_rng(seed)
    student = rng.normal(size=(n, classes)).astype(np.float32)
    teacher_logits = 2.0 * rng.normal(size=(n, classes))
    return student, (np.exp(teacher_logits) / np.exp(teacher_logits).sum(1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_the_distillation_loss_is_eq_2_of_the_paper(temperature):
    student, teacher_probabilities = logits_and_teacher(0)
    np.testing.assert_allclose(
        losses.knowledge_distillation(student, teacher_probabilities, temperature),
        numpy_distillation(student.astype(np.float64), teacher_probabilities.astype(np.float64), temperature),
        rtol=1e-5,
    )
    gradient = jax.grad(losses.knowledge_distillation, argnums=1)(student, teacher_probabilities, temperature)
    np.testing.assert_array_equal(gradient, 0.0)  # the teacher is fixed
    underflow = teacher_probabilities.copy()
    underflow[0] = [1.0, 0.0, 0.0, 0.0, 0.0]  # a float16 teacher's zeros stay finite
    assert np.isfinite(losses.knowledge_distillation(student, underflow, temperature))


def test_the_distillation_loss_is_the_same_on_1_and_8_devices():
    student, teacher_probabilities = logits_and_teacher(1)
    loss = jax.jit(losses.knowledge_distillation, static_argnums=2)
    one_device = loss(student, teacher_probabilities, 0.1)
    split = NamedSharding(sharding.make_mesh(8), PartitionSpec(sharding.DATA_AXIS))
    eight_devices = loss(jax.device_put(student, split), jax.device_put(teacher_probabilities, split), 0.1)
    np.testing.assert_allclose(eight_devices, one_device, rtol=1e-6)


@pytest.fixture(scope="module")
def pretrained(fashion_dir, tmp_path_factory):
    """A 2-step SimCLR v2 run (a 3-layer head: two hidden layers of 32) and its state."""
    workdir = str(tmp_path_factory.mktemp("simclr_v2"))
    config = simclr_v2_config.get_config("dataset=fashion_mnist,tiny=1")
    config.data.manual_dir = fashion_dir
    config.train.steps = 2
    return config, workdir, train.run(config, workdir)


def test_fine_tuning_from_the_first_head_layer_starts_from_its_pretrained_weights(pretrained):
    config, _, state = pretrained
    exp = experiment.prepare(config)
    classifier = Classifier(exp.method.network, num_classes=10, train_backbone=True, head_layers=1)
    variables = finetune.initial_variables(
        classifier,
        jnp.zeros((2, 16, 16, 1)),
        jax.random.key(0),
        pretrained=dict(params=state.params["model"], batch_stats=state.batch_stats),
    )
    projector, trained = variables["params"]["network"]["projector"], state.params["model"]["projector"]
    assert set(projector) == {"hidden0", "hidden0_bn"}  # the first layer kept, the others left out
    assert_same_tree(projector, {name: trained[name] for name in projector})
    assert_same_tree(
        variables["batch_stats"]["network"]["projector"],
        {"hidden0_bn": state.batch_stats["projector"]["hidden0_bn"]},
    )
    assert variables["params"]["head"]["kernel"].shape == (32, 10)  # the classifier reads the 32-wide layer


def test_a_fine_tuned_teacher_distils_into_a_student_that_resumes_exactly(pretrained, fashion_dir, tmp_path):
    config, workdir, state = pretrained
    (record,) = runner.evaluate(config, workdir, protocols=("finetune",), label_fraction=0.5)
    assert record["recipe"]["head_layers"] == 1 and record["predictions"] == os.path.join(
        workdir, "finetuned", "labels0.5.npz"
    )
    with np.load(record["predictions"]) as kept:
        kept_probabilities = kept["probabilities"]
        assert str(kept["dataset"]) == "fashion_mnist" and int(kept["teacher_step"]) == 2
    assert kept_probabilities.shape == (64, 10) and kept_probabilities.dtype == np.float16

    student_dir, resumed_dir = str(tmp_path / "student"), str(tmp_path / "resumed")
    student = distill_config.get_config(f"dataset=fashion_mnist,tiny=1,teacher={record['predictions']}")
    student.data.manual_dir = fashion_dir
    final = train.run(student, student_dir)
    with np.load(os.path.join(student_dir, "pseudo_labels.npz")) as stored:
        np.testing.assert_array_equal(stored["probabilities"], kept_probabilities)
    pool = teacher.with_pseudo_labels(experiment.prepare(student), student, student_dir).parts[1]
    np.testing.assert_array_equal(pool.indices, np.arange(64))  # every example once, none balanced away
    np.testing.assert_array_equal(pool.soft_labels, kept_probabilities.astype(np.float32))
    train_lines = [line for line in read_metrics(student_dir) if line["split"] == "train"]
    assert [line["step"] for line in train_lines] == [1, 2, 3, 4]
    assert all(np.isfinite(line["distillation"]) for line in train_lines)

    os.makedirs(os.path.join(resumed_dir, "checkpoints"))
    shutil.copytree(
        os.path.join(student_dir, "checkpoints", "2"), os.path.join(resumed_dir, "checkpoints", "2")
    )
    shutil.copy(os.path.join(student_dir, "pseudo_labels.npz"), resumed_dir)
    os.remove(record["predictions"])  # a resumed student reads its own copy of the teacher's predictions
    again = train.run(student, resumed_dir)
    assert_same_tree(again.params, final.params)


def test_a_teacher_or_head_layer_that_cannot_serve_is_refused_before_anything_runs(
    pretrained, fashion_dir, tmp_path
):
    config, workdir, _ = pretrained
    student_dir = str(tmp_path / "student")

    def student_of(teacher_path):
        student = distill_config.get_config(f"dataset=fashion_mnist,tiny=1,teacher={teacher_path}")
        student.data.manual_dir = fashion_dir
        return student

    foreign = str(tmp_path / "cifar10.npz")
    np.savez(
        foreign, probabilities=np.zeros((64, 10), np.float16), teacher="x", teacher_step=1, dataset="cifar10"
    )
    with pytest.raises(
        ValueError, match="made on cifar10's training split, the student trains on 'fashion_mnist'"
    ):
        train.run(student_of(foreign), student_dir)
    with pytest.raises(ValueError, match="has no classifier of its own"):
        train.run(student_of(workdir), student_dir)  # the pretraining run itself: no classifier to teach with
    assert not os.path.exists(student_dir)

    deep = config.copy_and_resolve_references()
    deep.finetune.head_layers = 3
    records = os.path.join(workdir, "offline_eval.jsonl")
    before = os.path.exists(records) and os.path.getsize(records)
    with pytest.raises(ValueError, match="head_layers=3, but the projection head has 2 hidden layer"):
        runner.evaluate(deep, workdir, protocols=("knn", "finetune"))
    assert (os.path.exists(records) and os.path.getsize(records)) == before
