"""The offline protocols end to end: supervised training of a classifier (linear probe, fine-tuning, the
supervised baseline), label fractions, every protocol's record, the registry, bad requests, 1 vs 8 devices."""

import ast
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl import flags

from configs import mae as mae_config
from configs import simclr as simclr_config
from jaxssl import experiment, main, sharding, stop, train
from jaxssl.data import ArraySource, pipeline
from jaxssl.evaluation import registry, resumable, runner
from jaxssl.models import resnet
from jaxssl.models.classifier import Classifier
from jaxssl.models.network import FeatureNetwork
from jaxssl.probes import finetune
from tests.helpers import cli


class Flatten(nn.Module):
    """A parameter-free 'backbone': the image's pixels as its features."""

    @nn.compact
    def __call__(self, x, train: bool):
        del train
        return x.reshape(x.shape[0], -1)


def striped_source(count: int, seed: int) -> ArraySource:
    """16x16 grey images whose class c (of 8) lights up row 2c: linearly separable pixels, unchanged by a
    horizontal flip."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 8
    images = rng.integers(0, 40, size=(count, 16, 16, 1))
    images[np.arange(count), 2 * labels] = 255
    return ArraySource(images.astype(np.uint8), labels.astype(np.int32))


def run_classifier(backbone, train_backbone, recipe, mesh, train_source, eval_source, seed=0):
    classifier = Classifier(
        network=FeatureNetwork(backbone, (0.5,), (0.25,)), num_classes=8, train_backbone=train_backbone
    )
    examples = len(train_source.labels)

    def batches_from(start_step):
        return pipeline.as_numpy(
            pipeline.train_dataset(
                train_source,
                global_batch=recipe.batch_size,
                seed=seed,
                start_step=start_step,
                num_steps=recipe.steps(examples),
            )
        )

    eval_batches = pipeline.as_numpy(pipeline.eval_dataset(eval_source, batch_size=16))
    return finetune.train_and_test(
        classifier,
        recipe=recipe,
        examples=examples,
        batches_from=batches_from,
        eval_batches=eval_batches,
        image_size=16,
        host_crop=False,
        channels=1,
        mesh=mesh,
        key=jax.random.key(seed),
    )


def test_the_sgd_probe_reaches_full_accuracy_on_separable_features():
    recipe = finetune.Recipe(epochs=10, batch_size=16, base_lr=0.5, min_crop_scale=1.0)
    result = run_classifier(
        Flatten(), False, recipe, sharding.make_mesh(), striped_source(64, 0), striped_source(32, 1)
    )
    assert result["top1"] == 1.0
    assert result["steps"] == 40 and result["peak_lr"] == pytest.approx(0.5 * 16 / 256)


def test_a_frozen_backbone_is_not_changed_by_the_probe():
    backbone = resnet.resnet_micro()
    recipe = finetune.Recipe(epochs=1, batch_size=16, base_lr=1.0, weight_decay=0.1)
    classifier = Classifier(
        network=FeatureNetwork(backbone, (0.5,), (0.25,)), num_classes=8, train_backbone=False
    )
    variables = finetune.initial_variables(
        classifier, np.zeros((2, 16, 16, 1), np.float32), jax.random.key(0)
    )
    optimizer = finetune.optimizer_for(classifier, recipe, recipe.learning_rate(64), variables["params"])
    state = finetune.ClassifierState.create(variables, optimizer)
    step = jax.jit(finetune.make_step(classifier, optimizer, recipe.view(16, False), jax.random.key(1)))
    batch = {"image": striped_source(16, 2).images[:, None], "label": striped_source(16, 2).labels}
    new_state, _ = step(state, batch)
    for before, after in zip(
        jax.tree.leaves((variables["params"]["network"], variables["batch_stats"]["network"])),
        jax.tree.leaves((new_state.params["network"], new_state.batch_stats["network"])),
        strict=True,
    ):
        np.testing.assert_array_equal(before, after)
    assert not np.allclose(variables["params"]["head"]["kernel"], new_state.params["head"]["kernel"])


def one_step_relative_updates(recipe, variables, classifier):
    """||update|| / ||kernel|| of every backbone kernel after one step of `recipe` on a fixed batch."""
    optimizer = finetune.optimizer_for(classifier, recipe, recipe.learning_rate(64), variables["params"])
    state = finetune.ClassifierState.create(variables, optimizer)
    step = jax.jit(finetune.make_step(classifier, optimizer, recipe.view(16, False), jax.random.key(1)))
    source = striped_source(16, 2)
    new_state, _ = step(state, {"image": source.images[:, None], "label": source.labels})
    before = jax.tree_util.tree_leaves_with_path(variables["params"]["network"])
    after = jax.tree.leaves(new_state.params["network"])
    return np.array(
        [
            np.linalg.norm(new - old) / np.linalg.norm(old)
            for (path, old), new in zip(before, after, strict=True)
            if path[-1].key == "kernel"
        ]
    )


def test_lars_fine_tuning_moves_kernels_of_any_scale_by_the_same_fraction():
    """Every kernel of the backbone feeds a BatchNorm, so scaling them all by 10 keeps the network's function
    (as pretraining's growth of the weights does). SGD's relative step then shrinks 100x (the gradient
    shrinks 10x, the weight grows 10x); LARS's is trust_coefficient x lr x (1 + momentum) (Nesterov's
    first step) whatever the scale."""
    classifier = Classifier(
        network=FeatureNetwork(resnet.resnet_micro(), (0.5,), (0.25,)), num_classes=8, train_backbone=True
    )
    variables = finetune.initial_variables(
        classifier, np.zeros((2, 16, 16, 1), np.float32), jax.random.key(0)
    )

    def with_backbone(kernel_scale):
        """BatchNorm scales of one, so the residual branches (zero-initialised) pass gradients too."""
        network = jax.tree_util.tree_map_with_path(
            lambda path, leaf: {"kernel": leaf * kernel_scale, "scale": jnp.ones_like(leaf)}.get(
                path[-1].key, leaf
            ),
            variables["params"]["network"],
        )
        return {**variables, "params": {**variables["params"], "network": network}}

    start, scaled = with_backbone(1.0), with_backbone(10.0)
    sgd = finetune.Recipe(epochs=1, batch_size=16, base_lr=1.0)
    lars = dataclasses.replace(sgd, optimizer="lars", trust_coefficient=0.01)
    np.testing.assert_allclose(
        one_step_relative_updates(sgd, start, classifier)
        / one_step_relative_updates(sgd, scaled, classifier),
        100.0,
        rtol=0.02,
    )
    peak_lr = 1.0 * 16 / 256
    for init in (start, scaled):
        np.testing.assert_allclose(
            one_step_relative_updates(lars, init, classifier), 0.01 * peak_lr * 1.9, rtol=1e-3
        )


def test_fine_tuning_gives_the_same_result_on_1_and_8_devices():
    recipe = finetune.Recipe(epochs=2, batch_size=16, base_lr=0.2, min_crop_scale=0.5)
    results = [
        run_classifier(
            resnet.resnet_micro(),
            True,
            recipe,
            sharding.make_mesh(n),
            striped_source(32, 0),
            striped_source(16, 1),
        )
        for n in (1, 8)
    ]
    assert results[0]["top1"] == results[1]["top1"]
    assert results[0]["final_train_loss"] == pytest.approx(results[1]["final_train_loss"], rel=1e-4)


def tiny_config(fashion_dir):
    config = simclr_config.get_config("dataset=fashion_mnist,tiny=1")
    config.data.manual_dir = fashion_dir
    return config


@pytest.fixture(scope="module")
def trained_run(fashion_dir, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("protocols") / "run")
    train.run(tiny_config(fashion_dir), workdir)
    return workdir


def read_records(workdir):
    with open(os.path.join(workdir, "offline_eval.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_frozen_feature_protocols_write_one_record_each(trained_run, fashion_dir):
    protocols = ("knn", "linear_lbfgs", "health", "tsne", "layers", "gallery")
    records = runner.evaluate(tiny_config(fashion_dir), trained_run, protocols=protocols)
    assert [r["protocol"] for r in records] == list(protocols)
    assert read_records(trained_run)[-len(protocols) :] == json.loads(json.dumps(records))
    for r in records:
        assert (
            r["step"] == 4 and r["init"] == "checkpoint" and r["label_fraction"] == 1.0 and r["description"]
        )
    knn_record, linear_record, health_record, tsne_record, layers_record, gallery_record = records
    assert set(knn_record["grid"]) == {"backbone", "projector"}
    assert set(knn_record["grid"]["backbone"]) == {"1/0.07", "1/0.5", "5/0.07", "5/0.5"}
    assert knn_record["top1"] == max(knn_record["grid"]["backbone"].values())
    assert 0.0 <= linear_record["top1"] <= 1.0
    backbone_health = health_record["spaces"]["backbone"]
    assert {"effective_rank", "alignment", "uniformity", "feature_std_mean"} <= set(backbone_health)
    assert 1.0 <= backbone_health["effective_rank"] <= 32
    # One probe per map of the micro ResNet, each pooled to at most 64 values: 16 x 16 x 8 and 8 x 8 x 16 to
    # 2 x 2.
    assert list(layers_record["dims"].items()) == [("stem", 32), ("stage0", 32), ("stage1", 64)]
    assert all(0.0 <= top1 <= 1.0 for top1 in layers_record["layers"].values())
    for record in (tsne_record, gallery_record):
        with open(record["png"], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_label_fractions_train_on_the_balanced_subset(trained_run, fashion_dir):
    records = runner.evaluate(
        tiny_config(fashion_dir),
        trained_run,
        protocols=("linear_lbfgs", "linear_sgd", "finetune"),
        label_fraction=0.5,
    )
    assert {r["labelled_examples"] for r in records} == {32 + 2}  # round(0.5 x 6 or 7) per class of the 64
    sgd, tuned = records[1], records[2]
    assert sgd["recipe"]["base_lr"] == 0.1 and tuned["recipe"]["base_lr"] == 0.05
    assert sgd["steps"] == tuned["steps"] == 3  # 1 epoch of 34 examples in batches of 16


def finetune_in(workdir, fashion_dir, before=(), **recipe):
    """A finetune record of the tiny run copied to `workdir` (7 steps: 3 epochs of 34 labelled examples),
    after the protocols `before` in the same command."""
    config = tiny_config(fashion_dir)
    config.finetune.update({"epochs": 3.0, **recipe})
    *_, record = runner.evaluate(config, workdir, protocols=(*before, "finetune"), label_fraction=0.5)
    return record


def test_a_preempted_fine_tuning_saves_its_step_and_resumes_to_the_uninterrupted_record(
    trained_run, fashion_dir, tmp_path, monkeypatch
):
    whole, preempted = str(tmp_path / "whole"), str(tmp_path / "preempted")
    for workdir in (whole, preempted):
        shutil.copytree(trained_run, workdir)
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(workdir, "offline_eval.jsonl"))
    expected = finetune_in(whole, fashion_dir)
    assert not os.path.exists(os.path.join(whole, "protocols_in_progress"))  # removed with the record

    after_step = resumable.ProtocolProgress.after_step

    def sigterm_after_step_3(progress, done, state):
        if done == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        after_step(progress, done, state)

    bounded = []  # each step's loss goes through the bound on steps in flight, so the save waits for a step
    add = stop.StepsInFlight.add
    monkeypatch.setattr(resumable.ProtocolProgress, "after_step", sigterm_after_step_3)
    monkeypatch.setattr(
        stop.StepsInFlight, "add", lambda self, loss: (bounded.append(self.limit), add(self, loss))
    )
    with pytest.raises(stop.Preempted, match="saved the protocol's training at step 3 of 7"):
        finetune_in(preempted, fashion_dir, before=("health",))
    monkeypatch.undo()
    assert bounded == [2, 2, 2]
    saved = os.path.join(preempted, "protocols_in_progress", "finetune-labels0.5-checkpoint", "checkpoints")
    assert os.listdir(saved) == ["3"]
    # the record of the protocol that finished before the preemption is kept
    assert [record["protocol"] for record in read_records(preempted)] == ["health"]
    with pytest.raises(
        ValueError, match=r"unfinished training of another request .*= \{'finetune.epochs': \(3.0, 4.0\)\}"
    ):
        finetune_in(preempted, fashion_dir, epochs=4.0)
    assert os.listdir(saved) == ["3"]

    resumed = finetune_in(preempted, fashion_dir)
    for key in ("top1", "top5", "final_train_loss", "steps", "recipe"):
        assert resumed[key] == expected[key], key
    assert [record.get("top1") for record in read_records(preempted)] == [None, resumed["top1"]]
    assert not os.path.exists(os.path.join(preempted, "protocols_in_progress"))


def test_the_supervised_baseline_from_the_command_line_learns_the_classes(fashion_dir, tmp_path):
    workdir = str(tmp_path / "supervised")
    args = [
        "--mode=evaluate",
        "--config=configs/simclr.py:dataset=fashion_mnist,tiny=1",
        f"--config.data.manual_dir={fashion_dir}",
        "--config.finetune.epochs=25",
        "--config.finetune.base_lr=2.0",
        f"--workdir={workdir}",
        "--protocol=finetune",
        "--eval_init=random",
    ]
    command, options = cli(args, capture_output=True, text=True)
    result = subprocess.run(command, **options)
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = read_records(workdir)
    assert record["init"] == "random" and record["step"] == 0 and record["steps"] == 100
    assert record["top1"] >= 0.5  # ten brightness classes, chance 0.1
    assert not os.path.exists(os.path.join(workdir, "checkpoints"))


def test_a_network_without_batchnorm_goes_through_every_protocol(fashion_dir, tmp_path):
    """MAE's ViT has no BatchNorm and its own input path: kNN, both linear probes, health, fine-tuning (with
    MAE's recipe: AdamW, layer-wise lr decay, drop path) and the reconstruction figure all read it through
    the network contract."""
    workdir = str(tmp_path / "mae")
    config = mae_config.get_config("dataset=fashion_mnist,tiny=1")
    config.data.manual_dir = fashion_dir
    state = train.run(config, workdir)
    assert state.batch_stats == {}
    protocols = ("knn", "linear_lbfgs", "health", "layers", "linear_sgd", "finetune", "reconstruction")
    records = runner.evaluate(config, workdir, protocols=protocols)
    assert [r["protocol"] for r in records] == list(protocols)
    by_protocol = {r["protocol"]: r for r in records}
    for protocol in ("knn", "linear_lbfgs", "linear_sgd", "finetune"):
        assert 0.0 <= by_protocol[protocol]["top1"] <= 1.0
    assert by_protocol["finetune"]["recipe"]["layer_decay"] == 0.65
    assert np.isfinite(by_protocol["finetune"]["final_train_loss"])
    assert by_protocol["health"]["spaces"]["backbone"]["effective_rank"] >= 1.0
    assert list(by_protocol["layers"]["layers"]) == ["block0", "block1"]  # the micro ViT's blocks
    with open(by_protocol["reconstruction"]["png"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_reconstruction_is_refused_for_a_method_that_does_not_reconstruct(trained_run, fashion_dir):
    with pytest.raises(ValueError, match="does not reconstruct"):
        runner.evaluate(tiny_config(fashion_dir), trained_run, protocols=("reconstruction",))


BAD_REQUESTS = {
    "unknown protocol": (
        dict(protocols=("knn", "linear_probe")),
        re.escape(f"unknown protocol(s) ['linear_probe']; choose from {list(registry.PROTOCOLS)}"),
    ),
    "fraction zero": (dict(label_fraction=0.0), "label_fraction"),
    "pixels cannot be fine-tuned": (dict(features="pixels", protocols=("finetune",)), "pixel features"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_fail_before_anything_is_written(case, fashion_dir, tmp_path):
    kwargs, message = BAD_REQUESTS[case]
    with pytest.raises(ValueError, match=message):
        runner.evaluate(tiny_config(fashion_dir), str(tmp_path / "never"), **kwargs)
    assert not os.path.exists(tmp_path / "never")


def test_an_unknown_recipe_optimizer_is_refused_before_anything_is_written(fashion_dir, tmp_path):
    config = tiny_config(fashion_dir)
    config.finetune.optimizer = "adam"
    with pytest.raises(ValueError, match="finetune.optimizer must be one of"):
        runner.evaluate(config, str(tmp_path / "never"), protocols=("finetune",))
    assert not os.path.exists(tmp_path / "never")


def test_a_config_from_before_the_protocols_is_refused_with_what_to_do(fashion_dir, tmp_path):
    config = tiny_config(fashion_dir)
    config.unlock()
    del config["finetune"]
    with pytest.raises(ValueError, match="pass --config"):
        runner.evaluate(config, str(tmp_path / "never"))
    assert not os.path.exists(tmp_path / "never")


def test_a_second_figure_never_overwrites_the_first(trained_run, fashion_dir):
    first, second = (
        runner.evaluate(tiny_config(fashion_dir), trained_run, protocols=("gallery",))[0]["png"]
        for _ in range(2)
    )
    assert os.path.dirname(first) == os.path.join(trained_run, "plots")
    assert re.fullmatch(r"augmentations(_\d+)?\.png", os.path.basename(first))
    assert re.fullmatch(r"augmentations_\d+\.png", os.path.basename(second)) and second != first
    assert os.path.exists(first) and os.path.exists(second)


def test_every_protocol_is_described_and_keyed_apart():
    assert list(registry.PROTOCOLS) == [
        "knn", "linear_lbfgs", "health", "classifier", "tsne", "fewshot", "episodes", "layers",
        "linear_sgd", "finetune", "gallery", "reconstruction", "crops",
    ]  # fmt: skip
    for name, protocol in registry.PROTOCOLS.items():
        assert protocol.description and "\n" not in protocol.description, name
        assert callable(protocol.record) and (protocol.requires is None or callable(protocol.requires)), name
        assert not protocol.pixels or protocol.frozen, name  # pixels feed only the shared embedding pass
    salts = [p.key_salt for p in registry.PROTOCOLS.values() if p.key_salt is not None]
    assert len(set(salts)) == len(salts)  # no two protocols draw from one branch of the seed
    assert registry.DEFAULT_PROTOCOLS == ("knn", "linear_lbfgs", "health")
    assert registry.PIXEL_PROTOCOLS == ("knn", "linear_lbfgs", "health", "tsne", "fewshot", "episodes")


def test_the_command_line_offers_exactly_the_registry():
    protocol, features, init = (
        flags.FLAGS[f.name] for f in (main._PROTOCOL, main._EVAL_FEATURES, main._EVAL_INIT)
    )
    offered = ast.literal_eval(re.search(r"from (\[.*?\])", protocol.help).group(1))
    assert offered == list(registry.PROTOCOLS)
    assert protocol.default == list(registry.DEFAULT_PROTOCOLS)
    assert features.parser.enum_values == list(registry.FEATURES)
    assert init.parser.enum_values == list(registry.INITS)


def test_the_layers_protocol_refuses_a_network_without_feature_maps_before_computing(
    fashion_dir, tmp_path, monkeypatch
):
    prepare = experiment.prepare

    def with_flat_network(config):
        exp = prepare(config)
        network = FeatureNetwork(Flatten(), (0.5,), (0.25,))
        return dataclasses.replace(exp, method=dataclasses.replace(exp.method, network=network))

    monkeypatch.setattr(experiment, "prepare", with_flat_network)
    monkeypatch.setattr(runner, "network_state", lambda *args: pytest.fail("a checkpoint was read"))
    with pytest.raises(ValueError) as refusal:
        runner.evaluate(tiny_config(fashion_dir), str(tmp_path / "never"), protocols=("knn", "layers"))
    assert (
        str(refusal.value)
        == "the layers protocol probes a backbone's feature maps, which Flatten does not offer"
    )
    assert not os.path.exists(tmp_path / "never")
