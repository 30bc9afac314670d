"""Backbones and heads: shapes, parameter counts, BatchNorm modes, zero-init residuals, dtypes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxssl.models import BACKBONES, MLP, ResNet, make_backbone
from jaxssl.models.heads import DINOHead, projector_and_predictor
from jaxssl.models.resnet import BasicBlock, BottleneckBlock

BN_EPSILON = 1e-5


def abstract_variables(model, input_shape):
    """Variables of `model` as shapes only (no compile, no FLOPs)."""
    init = functools.partial(model.init, train=False)
    return jax.eval_shape(init, jax.random.key(0), jnp.zeros(input_shape, jnp.float32))


def abstract_output(model, input_shape):
    variables = abstract_variables(model, input_shape)
    apply = functools.partial(model.apply, train=False)
    return jax.eval_shape(apply, variables, jnp.zeros(input_shape, jnp.float32))


def count_params(variables) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(variables["params"]))


def random_images(shape, seed=0):
    return jax.random.uniform(jax.random.key(seed), shape, jnp.float32)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_output_shape_cifar_stem(name):
    model = make_backbone(name)
    out = abstract_output(model, (2, 32, 32, 3))
    assert out.shape == (2, model.num_features)
    assert out.dtype == jnp.float32


@pytest.mark.parametrize("name, features", [("resnet18", 64), ("resnet50", 256)])
def test_backbone_output_shape_imagenet_stem(name, features):
    model = make_backbone(name, width_multiplier=0.125, stem="imagenet")
    out = abstract_output(model, (2, 64, 64, 3))
    assert out.shape == (2, features) == (2, model.num_features)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("resnet18", 11_689_512 - 513_000),  # torchvision resnet18 minus its 512 -> 1000 fc
        ("resnet50", 25_557_032 - 2_049_000),  # torchvision resnet50 minus its 2048 -> 1000 fc
    ],
)
def test_parameter_count_matches_torchvision(name, expected):
    model = make_backbone(name, stem="imagenet")
    variables = abstract_variables(model, (1, 32, 32, 3))
    assert count_params(variables) == expected


def test_width_multiplier_rounds_and_stays_positive():
    assert make_backbone("resnet50", width_multiplier=0.5).width == 32
    assert make_backbone("resnet18", width_multiplier=0.001).width == 1
    assert make_backbone("resnet_micro", width_multiplier=2.0).width == 16


def test_micro_init_and_apply():
    model = make_backbone("resnet_micro")
    images = random_images((2, 16, 16, 3))
    variables = model.init(jax.random.key(0), images, train=False)
    features = model.apply(variables, images, train=False)
    assert features.shape == (2, model.num_features) == (2, 16)
    assert np.all(np.isfinite(features))


def test_train_mode_updates_batch_stats():
    model = make_backbone("resnet_micro")
    images = random_images((4, 16, 16, 3))
    variables = model.init(jax.random.key(0), images, train=False)
    features, updates = model.apply(variables, images, train=True, mutable=["batch_stats"])
    assert features.shape == (4, model.num_features)
    old_mean = variables["batch_stats"]["stem_bn"]["mean"]
    new_mean = updates["batch_stats"]["stem_bn"]["mean"]
    assert jax.tree.structure(updates["batch_stats"]) == jax.tree.structure(variables["batch_stats"])
    assert not np.allclose(old_mean, new_mean)


def test_eval_mode_uses_running_stats_and_is_deterministic():
    model = make_backbone("resnet_micro")
    images = random_images((4, 16, 16, 3))
    variables = model.init(jax.random.key(0), images, train=False)
    first = model.apply(variables, images, train=False)
    second = model.apply(variables, images, train=False)
    alone = model.apply(variables, images[:1], train=False)
    np.testing.assert_array_equal(first, second)
    # Running statistics make each example's features independent of the rest of the batch.
    np.testing.assert_allclose(alone[0], first[0], rtol=1e-5, atol=1e-6)


def test_single_channel_input():
    model = make_backbone("resnet_micro")
    images = random_images((2, 28, 28, 1))
    variables = model.init(jax.random.key(0), images, train=False)
    assert variables["params"]["stem_conv"]["kernel"].shape == (3, 3, 1, 8)
    assert model.apply(variables, images, train=False).shape == (2, 16)


@pytest.mark.parametrize("block", [BasicBlock(filters=8), BottleneckBlock(filters=2)])
@pytest.mark.parametrize("train", [False, True])
def test_zero_init_identity_block_is_relu_of_input(block, train):
    inputs = jax.random.normal(jax.random.key(1), (2, 8, 8, 8))
    variables = block.init(jax.random.key(0), inputs, train=False)
    outputs, _ = block.apply(variables, inputs, train=train, mutable=["batch_stats"])
    np.testing.assert_allclose(outputs, jax.nn.relu(inputs), rtol=1e-6, atol=1e-6)


def test_zero_init_projection_block_is_relu_of_shortcut():
    block = BasicBlock(filters=16, stride=2)
    inputs = jax.random.normal(jax.random.key(1), (2, 8, 8, 8))
    variables = block.init(jax.random.key(0), inputs, train=False)
    kernel = variables["params"]["proj_conv"]["kernel"]
    projected = jax.lax.conv_general_dilated(
        inputs, kernel, window_strides=(2, 2), padding="VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    # At init BN has running mean 0, variance 1, scale 1 and bias 0.
    expected = jax.nn.relu(projected / np.sqrt(1.0 + BN_EPSILON))
    outputs = block.apply(variables, inputs, train=False)
    assert outputs.shape == (2, 4, 4, 16)
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)


def test_last_bn_scale_of_each_block_starts_at_zero():
    model = make_backbone("resnet_micro")
    params = model.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)), train=False)["params"]
    blocks = {name: value for name, value in params.items() if name.startswith("stage")}
    assert len(blocks) == 2
    for block_params in blocks.values():
        np.testing.assert_array_equal(block_params["bn2"]["scale"], 0.0)
        np.testing.assert_array_equal(block_params["bn1"]["scale"], 1.0)


def test_bfloat16_computation_keeps_float32_params_and_output():
    images = random_images((2, 16, 16, 3))
    model_f32 = make_backbone("resnet_micro")
    model_bf16 = make_backbone("resnet_micro", dtype=jnp.bfloat16)
    variables = model_bf16.init(jax.random.key(0), images, train=False)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables))
    out_bf16 = model_bf16.apply(variables, images, train=False)
    out_f32 = model_f32.apply(variables, images, train=False)
    assert out_bf16.dtype == jnp.float32
    np.testing.assert_allclose(out_bf16, out_f32, rtol=5e-2, atol=5e-2 * float(np.abs(out_f32).mean()))


def test_invalid_block_and_stem_raise():
    with pytest.raises(ValueError, match=r"unknown block 'wide'.*'basic', 'bottleneck'"):
        ResNet(stage_sizes=(1,), block="wide")
    with pytest.raises(ValueError, match=r"unknown stem 'vit'.*'cifar', 'imagenet'"):
        ResNet(stage_sizes=(1,), block="basic", stem="vit")


def test_make_backbone_unknown_name_lists_choices():
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet9'.*'resnet10'.*'resnet_micro'"):
        make_backbone("resnet9")


def test_mlp_shapes_and_float32_output():
    head = MLP(hidden_dims=(32, 24), out_dim=16, dtype=jnp.bfloat16)
    inputs = jax.random.normal(jax.random.key(0), (4, 8))
    variables = head.init(jax.random.key(1), inputs, train=False)
    outputs = head.apply(variables, inputs, train=False)
    assert outputs.shape == (4, 16)
    assert outputs.dtype == jnp.float32
    assert variables["params"]["hidden1"]["kernel"].shape == (32, 24)
    assert variables["params"]["out"]["bias"].shape == (16,)


def test_mlp_without_bn_has_no_batch_stats():
    head = MLP(hidden_dims=(32,), out_dim=16, use_bn=False)
    variables = head.init(jax.random.key(1), jnp.zeros((4, 8)), train=False)
    assert "batch_stats" not in variables
    assert set(variables["params"]) == {"hidden0", "out"}


def test_mlp_last_bn_standardises_each_output_dimension():
    head = MLP(hidden_dims=(32,), out_dim=16, last_bn=True)
    inputs = 3.0 * jax.random.normal(jax.random.key(0), (64, 8)) + 1.0
    variables = head.init(jax.random.key(1), inputs, train=False)
    assert "bias" not in variables["params"]["out"]
    assert "out_bn" not in variables["params"]
    outputs, _ = head.apply(variables, inputs, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(outputs.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(outputs.std(axis=0), 1.0, atol=1e-3)


def variable_paths(variables) -> list[str]:
    """Every leaf of a variable tree as "collection/module/.../name" with its shape, in tree order."""
    return [
        "/".join(key.key for key in path) + f" {tuple(leaf.shape)}"
        for path, leaf in jax.tree_util.tree_leaves_with_path(variables)
    ]


def test_dino_head_variable_names_are_its_checkpoints():
    # What a DINO checkpoint holds: the hidden layers share MLP's names, the bottleneck and weight-normalised
    # last layer are DINO's own.
    head = DINOHead(hidden_dims=(32, 24), bottleneck_dim=8, out_dim=64, use_bn=True)
    variables = abstract_variables(head, (4, 16))
    assert variable_paths(variables) == [
        "batch_stats/hidden0_bn/mean (32,)",
        "batch_stats/hidden0_bn/var (32,)",
        "batch_stats/hidden1_bn/mean (24,)",
        "batch_stats/hidden1_bn/var (24,)",
        "params/bottleneck/bias (8,)",
        "params/bottleneck/kernel (24, 8)",
        "params/hidden0/bias (32,)",
        "params/hidden0/kernel (16, 32)",
        "params/hidden0_bn/bias (32,)",
        "params/hidden0_bn/scale (32,)",
        "params/hidden1/bias (24,)",
        "params/hidden1/kernel (32, 24)",
        "params/hidden1_bn/bias (24,)",
        "params/hidden1_bn/scale (24,)",
        "params/last_layer (8, 64)",
    ]
    without_bn = abstract_variables(DINOHead(hidden_dims=(32,), bottleneck_dim=8, out_dim=64), (4, 16))
    assert set(without_bn) == {"params"} and set(without_bn["params"]) == {
        "hidden0",
        "bottleneck",
        "last_layer",
    }


def test_dino_head_hidden_layers_are_gelu_where_the_mlp_is_relu():
    inputs = jax.random.normal(jax.random.key(0), (4, 16))
    head = DINOHead(hidden_dims=(32,), bottleneck_dim=8, out_dim=64)
    variables = head.init(jax.random.key(1), inputs, train=False)
    params = variables["params"]
    hidden = jax.nn.gelu(inputs @ params["hidden0"]["kernel"] + params["hidden0"]["bias"], approximate=False)
    bottleneck = hidden @ params["bottleneck"]["kernel"] + params["bottleneck"]["bias"]
    bottleneck /= jnp.linalg.norm(bottleneck, axis=-1, keepdims=True)
    last = params["last_layer"] / jnp.linalg.norm(params["last_layer"], axis=0, keepdims=True)
    np.testing.assert_allclose(
        head.apply(variables, inputs, train=False), bottleneck @ last, rtol=1e-5, atol=1e-6
    )


def test_projector_and_predictor_heads_keep_their_layer_names():
    projector, predictor = projector_and_predictor((32, 32), 16, (24,), jnp.float32)
    projector_params = abstract_variables(projector, (4, 8))["params"]
    predictor_params = abstract_variables(predictor, (4, 16))["params"]
    assert set(projector_params) == {"hidden0", "hidden0_bn", "hidden1", "hidden1_bn", "out"}
    assert "bias" not in projector_params["out"]  # batch-normalised output without affine
    assert set(predictor_params) == {"hidden0", "hidden0_bn", "out"}
    assert predictor_params["out"]["kernel"].shape == (24, 16) and "bias" in predictor_params["out"]
