"""Weights that leave (jaxssl/weights/export.py): torchvision's names and layouts, checked against a state_dict
manifest of torchvision itself and a forward pass written in torchvision's layout; timm's names for the ViTs,
checked the same way; native npz; refusals; the restore of a run's newest checkpoint for reading."""

import functools
import json
import os
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file

from configs import byol as byol_config
from configs import simclr as simclr_config
from jaxssl import experiment, run_state, train
from jaxssl.rundir import checkpoint
from jaxssl.rundir.checkpoint import Checkpointer
from jaxssl.state import evaluated_weights
from jaxssl.weights import export, load
from tests.helpers import assert_same_backbone, cli, saved_run, tiny_config

DATA = os.path.join(os.path.dirname(__file__), "data")
MANIFEST = os.path.join(DATA, "torchvision_resnet18_cifar_stem_1ch.json")
TIMM_MANIFEST = os.path.join(DATA, "timm_vit_micro_16px_1ch.json")


def resnet18_config(fashion_dir):
    config = simclr_config.get_config("dataset=fashion_mnist,tiny=1")
    config.data.manual_dir = fashion_dir
    config.model.update(backbone="resnet18", width_multiplier=1.0, stem="cifar")
    return config


def torch_layout_conv(x, weight, stride: int):
    """torch.nn.Conv2d(padding=k // 2, bias=False) on NCHW input with an OIHW weight."""
    pad = weight.shape[-1] // 2
    return jax.lax.conv_general_dilated(
        x, weight, (stride, stride), [(pad, pad)] * 2, dimension_numbers=("NCHW", "OIHW", "NCHW")
    )


def torch_layout_bn(x, sd, name):
    """torch.nn.BatchNorm2d in eval mode (eps 1e-5) from the state_dict's entries under `name`."""
    shape = (1, -1, 1, 1)
    scale = sd[f"{name}.weight"] / np.sqrt(sd[f"{name}.running_var"] + 1e-5)
    return (x - sd[f"{name}.running_mean"].reshape(shape)) * scale.reshape(shape) + sd[
        f"{name}.bias"
    ].reshape(shape)


def torchvision_resnet18_cifar(sd, x):
    """torchvision's ResNet-18 forward (conv1 3x3 without max-pool) on NCHW x, from its state_dict: (features,
    fc logits)."""
    y = jax.nn.relu(torch_layout_bn(torch_layout_conv(x, sd["conv1.weight"], 1), sd, "bn1"))
    for layer in range(1, 5):
        for block in range(2):
            name, stride = f"layer{layer}.{block}", 2 if layer > 1 and block == 0 else 1
            out = jax.nn.relu(
                torch_layout_bn(torch_layout_conv(y, sd[f"{name}.conv1.weight"], stride), sd, f"{name}.bn1")
            )
            out = torch_layout_bn(torch_layout_conv(out, sd[f"{name}.conv2.weight"], 1), sd, f"{name}.bn2")
            if f"{name}.downsample.0.weight" in sd:
                y = torch_layout_bn(
                    torch_layout_conv(y, sd[f"{name}.downsample.0.weight"], stride),
                    sd,
                    f"{name}.downsample.1",
                )
            y = jax.nn.relu(out + y)
    features = jnp.mean(y, axis=(2, 3))
    return features, features @ sd["fc.weight"].T + sd["fc.bias"]


def test_torchvision_naming_is_torchvisions_state_dict_and_computes_our_features(fashion_dir, tmp_path):
    config = resnet18_config(fashion_dir)
    exp, state = saved_run(config, str(tmp_path))
    path = export.export(config, str(tmp_path), format="safetensors", naming="torchvision")
    assert path == str(tmp_path / "export" / "torchvision_step0_online.safetensors")
    sd = load_file(path)
    with open(MANIFEST) as f:
        assert {name: list(array.shape) for name, array in sd.items()} == json.load(f)["state_dict"]
    assert sd["bn1.num_batches_tracked"].dtype == np.int64

    images = np.random.default_rng(1).uniform(0, 1, (4, 16, 16, 1)).astype(np.float32)
    params, batch_stats = evaluated_weights(state, exp.method.eval_weights)
    variables = {"params": params, "batch_stats": batch_stats}
    ours = exp.method.network.apply(variables, images, train=False, method=exp.method.network.features)
    logits = ours @ state.params["probe"]["kernel"] + state.params["probe"]["bias"]
    with open(path.replace(".safetensors", ".json")) as f:
        metadata = json.load(f)
    normalised = (images - np.asarray(metadata["mean"], np.float32)) / np.asarray(metadata["std"], np.float32)
    features, fc = torchvision_resnet18_cifar(sd, normalised.transpose(0, 3, 1, 2))
    assert float(jnp.std(ours, axis=0).max()) > 0.1  # the features depend on the image: the check has teeth
    np.testing.assert_allclose(features, ours, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fc, logits, rtol=1e-4, atol=1e-5)
    assert metadata["backbone"] == "resnet18" and metadata["stem"] == "cifar" and metadata["classes"] == 10


def layer_norm(x, sd, name):
    """torch.nn.LayerNorm(eps=1e-6), timm's."""
    mean = jnp.mean(x, -1, keepdims=True)
    return (x - mean) / jnp.sqrt(jnp.var(x, -1, keepdims=True) + 1e-6) * sd[f"{name}.weight"] + sd[
        f"{name}.bias"
    ]


def linear(x, sd, name):
    return x @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]


def timm_vit(sd, x, kwargs):
    """timm's VisionTransformer forward on NCHW x from its state_dict: (pooled features, head logits)."""
    patch, heads = kwargs["patch_size"], kwargs["num_heads"]
    tokens = jax.lax.conv_general_dilated(
        x, sd["patch_embed.proj.weight"], (patch, patch), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")
    ) + sd["patch_embed.proj.bias"].reshape(1, -1, 1, 1)
    tokens = tokens.reshape(*tokens.shape[:2], -1).transpose(0, 2, 1)
    cls = jnp.broadcast_to(sd["cls_token"], (x.shape[0], 1, tokens.shape[-1]))
    y = jnp.concatenate([cls, tokens], axis=1) + sd["pos_embed"]
    batch, length, dim = y.shape
    for block in range(kwargs["depth"]):
        name = f"blocks.{block}"
        qkv = linear(layer_norm(y, sd, f"{name}.norm1"), sd, f"{name}.attn.qkv")
        q, k, v = qkv.reshape(batch, length, 3, heads, dim // heads).transpose(2, 0, 3, 1, 4)
        attention = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) * (dim // heads) ** -0.5, axis=-1)
        mixed = (attention @ v).transpose(0, 2, 1, 3).reshape(batch, length, dim)
        y = y + linear(mixed, sd, f"{name}.attn.proj")
        hidden = jax.nn.gelu(
            linear(layer_norm(y, sd, f"{name}.norm2"), sd, f"{name}.mlp.fc1"), approximate=False
        )
        y = y + linear(hidden, sd, f"{name}.mlp.fc2")
    y = layer_norm(y, sd, "norm")
    pooled = y[:, 0] if kwargs["global_pool"] == "token" else jnp.mean(y[:, 1:], axis=1)
    return pooled, linear(pooled, sd, "head")


@pytest.mark.parametrize(
    "method, pool",
    [("mae", "cls"), ("mae", "mean"), ("ibot", "cls"), ("dinov2", "cls"), ("ijepa", "mean"), ("msn", "cls")],
)
def test_timm_naming_is_timms_state_dict_and_computes_our_features(method, pool, fashion_dir, tmp_path):
    # Sin-cos positions (MAE, I-JEPA: a constant here, timm's pos_embed there) or learned ones (iBOT, DINOv2,
    # MSN), cls token or mean pooling; the weights the run's evaluation reads, I-JEPA's and MSN's EMA target.
    config = tiny_config(method, fashion_dir, steps=1)
    config.model.update(drop_path=0.0, pool=pool)
    exp = experiment.prepare(config)
    state = run_state.create_state(exp, run_state.state_layout(exp))
    rng = np.random.default_rng(0)

    def moved(tree):
        return jax.tree.map(lambda x: x + jnp.asarray(rng.normal(0, 0.05, x.shape), x.dtype), tree)

    state = state.replace(params=moved(state.params), target=moved(state.target))
    checkpointer = Checkpointer(str(tmp_path), keep=None, identity=exp.identity)
    checkpointer.save(1, state)
    checkpointer.close()
    path = export.export(config, str(tmp_path), naming="timm")
    assert path.endswith(f"_{exp.method.eval_weights}.safetensors")
    assert exp.method.eval_weights == ("target" if method in ("ijepa", "msn") else "online")
    sd = load_file(path)
    with open(TIMM_MANIFEST) as f:
        manifest = json.load(f)
    assert {name: list(array.shape) for name, array in sd.items()} == manifest["state_dict"]
    with open(path.replace(".safetensors", ".json")) as f:
        metadata = json.load(f)
    expected_kwargs = {**manifest["timm_kwargs"], "global_pool": "token" if pool == "cls" else "avg"}
    assert metadata["timm_kwargs"] == expected_kwargs
    images = rng.uniform(0, 1, (4, 16, 16, 1)).astype(np.float32)
    params, batch_stats = evaluated_weights(state, exp.method.eval_weights)
    variables = {"params": params, "batch_stats": batch_stats}
    ours = exp.method.network.apply(variables, images, train=False, method=exp.method.network.features)
    normalised = (images - np.asarray(metadata["mean"], np.float32)) / np.asarray(metadata["std"], np.float32)
    features, head = timm_vit(sd, normalised.transpose(0, 3, 1, 2), metadata["timm_kwargs"])
    assert float(jnp.std(ours, axis=0).max()) > 0.1
    np.testing.assert_allclose(features, ours, rtol=1e-4, atol=1e-5)
    logits = ours @ state.params["probe"]["kernel"] + state.params["probe"]["bias"]
    np.testing.assert_allclose(head, logits, rtol=1e-4, atol=1e-5)


def test_native_npz_holds_the_stored_arrays_and_a_second_export_never_replaces_the_first(
    fashion_dir, tmp_path
):
    config = resnet18_config(fashion_dir)
    _, state = saved_run(config, str(tmp_path))
    first = export.export(config, str(tmp_path), format="npz", naming="native")
    second = export.export(config, str(tmp_path), format="npz", naming="native")
    assert second == first.replace("online.npz", "online_1.npz") and os.path.exists(first)
    arrays = np.load(second)
    np.testing.assert_array_equal(
        arrays["params/stage0_block0/conv1/kernel"],
        state.params["model"]["backbone"]["stage0_block0"]["conv1"]["kernel"],
    )
    np.testing.assert_array_equal(
        arrays["batch_stats/stem_bn/var"], state.batch_stats["backbone"]["stem_bn"]["var"]
    )
    np.testing.assert_array_equal(arrays["probe/kernel"], state.params["probe"]["kernel"])


def test_an_export_without_a_counterpart_is_one_clear_error_before_anything_is_written(fashion_dir, tmp_path):
    config = simclr_config.get_config("dataset=fashion_mnist,tiny=1")
    config.data.manual_dir = fashion_dir
    with pytest.raises(export.ExportError, match="has no checkpoint"):  # the first refusal
        export.export(config, str(tmp_path))
    saved_run(config, str(tmp_path))
    with pytest.raises(export.ExportError, match="resnet_micro .* has no torchvision counterpart"):
        export.export(config, str(tmp_path))
    with pytest.raises(export.ExportError, match="resnet_micro is not a ViT"):
        export.export(config, str(tmp_path), naming="timm")
    with pytest.raises(export.ExportError, match="simclr has no target network"):
        export.export(config, str(tmp_path), naming="native", weights="target")
    command, options = cli(
        [
            "--mode=export",
            f"--workdir={tmp_path}",
            "--config=configs/simclr.py:dataset=fashion_mnist,tiny=1",
            f"--config.data.manual_dir={fashion_dir}",
        ],
        capture_output=True,
        text=True,
    )
    result = subprocess.run(command, **options)
    assert result.returncode != 0 and "has no torchvision counterpart" in result.stderr
    assert not os.path.exists(tmp_path / "export")


def micro_config(fashion_dir, width_multiplier=1.0):
    config = simclr_config.get_config("dataset=fashion_mnist,tiny=1")
    config.data.manual_dir = fashion_dir
    config.model.width_multiplier = width_multiplier
    return config


# torchvision's names need a torchvision network (ResNet-18); the native names fit any, so the micro one.
EXPORTED_AND_MISFIT = {
    "torchvision": (resnet18_config, micro_config),
    "native": (micro_config, functools.partial(micro_config, width_multiplier=2.0)),
}


@pytest.mark.parametrize("naming", sorted(EXPORTED_AND_MISFIT))
def test_a_run_starts_from_an_exported_file_and_refuses_one_that_does_not_fit(naming, fashion_dir, tmp_path):
    exported, misfit = (make(fashion_dir) for make in EXPORTED_AND_MISFIT[naming])
    exp, state = saved_run(exported, str(tmp_path / "source"))
    path = export.export(exported, str(tmp_path / "source"), naming=naming)
    other = experiment.prepare(exported)
    layout = run_state.state_layout(other)
    fresh = run_state.create_state(other, layout)  # the random initialisation the saved run was moved from
    started = load.with_backbone(fresh, load.backbone_from_file(path, layout), layout)
    assert_same_backbone(started, state)
    misfit.init.weights = path
    with pytest.raises(
        load.InitWeightsError, match="does not fit this run's backbone .* Nothing was written"
    ):
        train.run(misfit, str(tmp_path / "misfit"))
    assert not os.path.exists(tmp_path / "misfit")  # refused before its lock or any directory


def test_a_training_run_starts_from_weights_and_its_target_too(fashion_dir, tmp_path):
    # BYOL: the online backbone and the target's start from the file.
    config = byol_config.get_config("dataset=fashion_mnist,tiny=1")
    config.data.manual_dir = fashion_dir
    exp, state = saved_run(config, str(tmp_path / "source"))
    path = export.export(config, str(tmp_path / "source"), naming="native")
    layout = run_state.state_layout(exp)
    started = load.with_backbone(
        run_state.create_state(exp, layout), load.backbone_from_file(path, layout), layout
    )
    assert_same_backbone(started, state)
    np.testing.assert_array_equal(
        started.target["params"]["backbone"]["stem_conv"]["kernel"],
        state.params["model"]["backbone"]["stem_conv"]["kernel"],
    )
    config.init.weights = path
    config.train.steps = 1
    assert int(train.run(config, str(tmp_path / "run")).step) == 1


def test_a_run_is_restored_for_reading_from_its_newest_checkpoint_and_never_created(fashion_dir, tmp_path):
    config = tiny_config("byol", fashion_dir, steps=1)
    exp = experiment.prepare(config)
    layout = run_state.state_layout(exp)
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=f"no readable checkpoint in {missing}/checkpoints; train"):
        checkpoint.restore_newest(missing, identity=exp.identity, abstract_state=layout, hint="; train")
    assert not os.path.exists(missing)  # no empty checkpoint directory created just to be found empty
    state = run_state.create_state(exp, layout)
    writer = Checkpointer(str(tmp_path), keep=None, identity=exp.identity)
    for step in (1, 2):
        writer.save(step, state.replace(step=state.step + step))
    writer.close()
    restored = checkpoint.restore_newest(str(tmp_path), identity=exp.identity, abstract_state=layout)
    assert int(restored.step) == 2
    for ours, theirs in zip(jax.tree.leaves(restored.target), jax.tree.leaves(state.target), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(checkpoint.WorkdirConflictError, match="holds checkpoints of another run"):
        checkpoint.restore_newest(
            str(tmp_path), identity={**exp.identity, "method": "simclr"}, abstract_state=layout
        )


def test_the_checkpointer_is_closed_when_the_run_is_another_one(tmp_path, monkeypatch):
    closed = []

    class OfAnotherRun:
        def __init__(self, workdir, *, keep, identity):
            del workdir, keep, identity

        def check_identity(self):
            raise checkpoint.WorkdirConflictError("holds checkpoints of another run")

        def restore_latest(self, abstract_state):
            pytest.fail("restored a checkpoint of another run")

        def close(self):
            closed.append(True)

    monkeypatch.setattr(checkpoint, "Checkpointer", OfAnotherRun)
    os.makedirs(tmp_path / "checkpoints")
    with pytest.raises(checkpoint.WorkdirConflictError):
        checkpoint.restore_newest(str(tmp_path), identity={}, abstract_state=None)
    assert closed == [True]
