"""Classic backbones (LeNet-5, AlexNet, VGG, MobileNet v1/v2, Wide ResNet): parameter counts against
the published figures, feature-map names and shapes, BN-free variables, dropout, dtypes, options.

Everything full-size goes through `jax.eval_shape` (no compile); only the micro variants run."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxssl.models import alexnet, lenet, mobilenet, vgg, wide_resnet


def abstract_variables(model, input_shape):
    """Variables of `model` as shapes only (no compile, no FLOPs)."""
    init = functools.partial(model.init, train=False)
    return jax.eval_shape(init, jax.random.key(0), jnp.zeros(input_shape, jnp.float32))


def abstract_apply(model, input_shape, method=None):
    variables = abstract_variables(model, input_shape)
    apply = functools.partial(model.apply, train=False, method=method)
    return jax.eval_shape(apply, variables, jnp.zeros(input_shape, jnp.float32))


def count_params(variables) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(variables["params"]))


def random_images(shape, seed=0):
    return jax.random.normal(jax.random.key(seed), shape, jnp.float32)


def wrn_params(depth: int, k: int, in_channels: int = 3) -> int:
    """WRN-depth-k without classifier, counted layer by layer: a 3x3 stem conv to 16; per block BN on the
    input (2 c_in), 3x3 conv c_in -> c, BN (2 c), 3x3 conv c -> c, and a 1x1 shortcut c_in -> c when the
    channels change (bias-free convolutions); the final BN (2 * 64k)."""
    total, c_in = 9 * in_channels * 16, 16
    for c in (16 * k, 32 * k, 64 * k):
        for _ in range((depth - 4) // 6):
            total += 2 * c_in + 9 * c_in * c + 2 * c + 9 * c * c + (c_in * c if c_in != c else 0)
            c_in = c
    return total + 2 * c_in


# (builder, kwargs, input shape, parameters without the final classifier)
PARAMETER_COUNTS = [
    # LeNet-5 with a fully connected C3: conv1 5*5*1*6+6 = 156, conv2 5*5*6*16+16 = 2,416,
    # C5 400*120+120 = 48,120, F6 120*84+84 = 10,164: the common 61,706 minus the 84*10+10 output.
    (lenet.lenet5, {}, (1, 32, 32, 1), 61_706 - 850),
    # torchvision alexnet 61,100,840 minus fc8 4096*1000+1000; by layers: convs 23,296 + 307,392 +
    # 663,936 + 884,992 + 590,080, fc6 9216*4096+4096 = 37,752,832, fc7 4096*4096+4096 = 16,781,312.
    (alexnet.alexnet, {"stem": "imagenet"}, (1, 224, 224, 3), 61_100_840 - 4_097_000),
    # torchvision vgg* minus fc8 (4,097,000). The BN variants add scale+bias per conv channel:
    # 2 * (64+128+2*256+4*512) = 5,504 for VGG-11, 2 * (2*64+2*128+3*256+6*512) = 8,448 for VGG-16.
    (vgg.vgg11, {"stem": "imagenet"}, (1, 32, 32, 3), 132_863_336 - 4_097_000),
    (vgg.vgg11, {"stem": "imagenet", "batch_norm": True}, (1, 32, 32, 3), 132_868_840 - 4_097_000),
    (vgg.vgg16, {"stem": "imagenet"}, (1, 32, 32, 3), 138_357_544 - 4_097_000),
    (vgg.vgg16, {"stem": "imagenet", "batch_norm": True}, (1, 32, 32, 3), 138_365_992 - 4_097_000),
    # MobileNet v1: Keras' trainable 4,231,976 (paper: 4.2M; BN scale and offset included) minus its
    # 1024 -> 1000 classifier with bias (1,025,000).
    (mobilenet.mobilenet_v1, {"stem": "imagenet"}, (1, 224, 224, 3), 4_231_976 - 1_025_000),
    # torchvision mobilenet_v2 3,504,872 minus its 1280 -> 1000 classifier (1,281,000).
    (mobilenet.mobilenet_v2, {"stem": "imagenet"}, (1, 224, 224, 3), 3_504_872 - 1_281_000),
    # WRN-28-2: 1,467,610 with a 10-class head (the PyTorch ports' 1.47M, FixMatch's "1.5M") minus
    # 128*10+10; equal to wrn_params(28, 2), checked below.
    (wide_resnet.wide_resnet28_2, {}, (1, 32, 32, 3), 1_467_610 - 1_290),
    # WRN-28-8: FixMatch's CIFAR-100 network, "23.4M" = 23,401,012 with its 100-class head, minus
    # 512*100+100 (with a 10-class head it would be 23,354,842); equal to wrn_params(28, 8).
    (wide_resnet.wide_resnet28_8, {}, (1, 32, 32, 3), 23_401_012 - 51_300),
]


@pytest.mark.parametrize("builder, kwargs, shape, expected", PARAMETER_COUNTS)
def test_parameter_count_matches_published(builder, kwargs, shape, expected):
    assert count_params(abstract_variables(builder(**kwargs), shape)) == expected


@pytest.mark.parametrize("depth, k, expected", [(28, 2, 1_466_320), (28, 8, 23_349_712), (10, 1, 77_200)])
def test_wide_resnet_count_matches_layer_by_layer_formula(depth, k, expected):
    model = wide_resnet.WideResNet(depth=depth, widen_factor=k)
    assert wrn_params(depth, k) == expected == count_params(abstract_variables(model, (1, 32, 32, 3)))


# (builder, kwargs, input shape, {name: (h, w, c)} in order)
FEATURE_MAPS = [
    (lenet.lenet5, {}, (2, 28, 28, 1), {"conv1": (28, 28, 6), "conv2": (10, 10, 16)}),
    (lenet.lenet5, {"activation": "relu"}, (2, 32, 32, 3), {"conv1": (28, 28, 6), "conv2": (10, 10, 16)}),
    (
        alexnet.alexnet,
        {"stem": "imagenet"},
        (2, 224, 224, 3),
        {
            "conv1": (55, 55, 64),
            "conv2": (27, 27, 192),
            "conv3": (13, 13, 384),
            "conv4": (13, 13, 256),
            "conv5": (13, 13, 256),
        },
    ),
    (
        alexnet.alexnet,
        {},
        (2, 32, 32, 3),
        {
            "conv1": (32, 32, 64),
            "conv2": (15, 15, 192),
            "conv3": (7, 7, 384),
            "conv4": (7, 7, 256),
            "conv5": (7, 7, 256),
        },
    ),
    (
        alexnet.alexnet_micro,
        {},
        (2, 28, 28, 1),
        {
            "conv1": (28, 28, 8),
            "conv2": (13, 13, 16),
            "conv3": (6, 6, 16),
            "conv4": (6, 6, 16),
            "conv5": (6, 6, 16),
        },
    ),
    (
        vgg.vgg16,
        {"stem": "imagenet"},
        (2, 224, 224, 3),
        {
            "stage1": (224, 224, 64),
            "stage2": (112, 112, 128),
            "stage3": (56, 56, 256),
            "stage4": (28, 28, 512),
            "stage5": (14, 14, 512),
        },
    ),
    (
        vgg.vgg11,
        {"batch_norm": True},
        (2, 28, 28, 1),
        {
            "stage1": (28, 28, 64),
            "stage2": (14, 14, 128),
            "stage3": (7, 7, 256),
            "stage4": (3, 3, 512),
            "stage5": (1, 1, 512),
        },
    ),
    (
        vgg.vgg_micro,
        {},
        (2, 32, 32, 3),
        {
            "stage1": (32, 32, 8),
            "stage2": (16, 16, 8),
            "stage3": (8, 8, 16),
            "stage4": (4, 4, 16),
            "stage5": (2, 2, 16),
        },
    ),
    (
        mobilenet.mobilenet_v1,
        {"stem": "imagenet"},
        (2, 224, 224, 3),
        {
            "stage1": (112, 112, 64),
            "stage2": (56, 56, 128),
            "stage3": (28, 28, 256),
            "stage4": (14, 14, 512),
            "stage5": (7, 7, 1024),
        },
    ),
    (
        mobilenet.mobilenet_v1,
        {"width_multiplier": 0.25},
        (2, 28, 28, 1),
        {
            "stage1": (28, 28, 16),
            "stage2": (14, 14, 32),
            "stage3": (7, 7, 64),
            "stage4": (4, 4, 128),
            "stage5": (2, 2, 256),
        },
    ),
    (
        mobilenet.mobilenet_v1_micro,
        {},
        (2, 32, 32, 3),
        {"stage1": (32, 32, 16), "stage2": (16, 16, 32), "stage3": (8, 8, 32)},
    ),
    (
        mobilenet.mobilenet_v2,
        {"stem": "imagenet"},
        (2, 224, 224, 3),
        {
            "stage1": (112, 112, 16),
            "stage2": (56, 56, 24),
            "stage3": (28, 28, 32),
            "stage4": (14, 14, 96),
            "stage5": (7, 7, 1280),
        },
    ),
    (
        mobilenet.mobilenet_v2,
        {},
        (2, 32, 32, 3),
        {
            "stage1": (32, 32, 16),
            "stage2": (16, 16, 24),
            "stage3": (8, 8, 32),
            "stage4": (4, 4, 96),
            "stage5": (2, 2, 1280),
        },
    ),
    (
        mobilenet.mobilenet_v2_micro,
        {},
        (2, 28, 28, 1),
        {"stage1": (28, 28, 8), "stage2": (14, 14, 16), "stage3": (7, 7, 64)},
    ),
    (
        wide_resnet.wide_resnet28_2,
        {},
        (2, 32, 32, 3),
        {"stem": (32, 32, 16), "stage1": (32, 32, 32), "stage2": (16, 16, 64), "stage3": (8, 8, 128)},
    ),
    (
        wide_resnet.wide_resnet28_8,
        {},
        (2, 28, 28, 1),
        {"stem": (28, 28, 16), "stage1": (28, 28, 128), "stage2": (14, 14, 256), "stage3": (7, 7, 512)},
    ),
    (
        wide_resnet.wide_resnet_micro,
        {},
        (2, 32, 32, 3),
        {"stem": (32, 32, 8), "stage1": (32, 32, 8), "stage2": (16, 16, 16), "stage3": (8, 8, 32)},
    ),
]


@pytest.mark.parametrize("builder, kwargs, shape, expected", FEATURE_MAPS)
def test_feature_map_names_and_shapes(builder, kwargs, shape, expected):
    # Through eval_shape (as through jit) a dict comes back with sorted keys; the order is tested below.
    maps = abstract_apply(builder(**kwargs), shape, method="feature_maps")
    assert {name: m.shape for name, m in maps.items()} == {name: (2, *hwc) for name, hwc in expected.items()}
    assert all(m.dtype == jnp.float32 for m in maps.values())


@pytest.mark.parametrize(
    "builder, names",
    [
        (lenet.lenet5, ["conv1", "conv2"]),
        (alexnet.alexnet_micro, ["conv1", "conv2", "conv3", "conv4", "conv5"]),
        (vgg.vgg_micro, ["stage1", "stage2", "stage3", "stage4", "stage5"]),
        (mobilenet.mobilenet_v1_micro, ["stage1", "stage2", "stage3"]),
        (mobilenet.mobilenet_v2_micro, ["stage1", "stage2", "stage3"]),
        (wide_resnet.wide_resnet_micro, ["stem", "stage1", "stage2", "stage3"]),
    ],
)
def test_feature_maps_come_in_network_order(builder, names):
    model = builder()
    images = random_images((2, 32, 32, 3))
    variables = model.init(jax.random.key(0), images, train=False)
    assert list(model.apply(variables, images, train=False, method="feature_maps")) == names


CIFAR_SHAPES = [(2, 28, 28, 1), (2, 32, 32, 3)]
IMAGENET_SHAPE = (2, 224, 224, 3)
# (builder, kwargs, expected num_features, input shapes)
OUTPUTS = [
    (lenet.lenet5, {}, 84, CIFAR_SHAPES),
    (alexnet.alexnet, {}, 256, CIFAR_SHAPES),
    (alexnet.alexnet, {"stem": "imagenet"}, 4096, [IMAGENET_SHAPE]),
    (vgg.vgg11, {}, 512, CIFAR_SHAPES),
    (vgg.vgg11, {"batch_norm": True, "stem": "imagenet"}, 4096, [IMAGENET_SHAPE]),
    (vgg.vgg16, {"batch_norm": True}, 512, CIFAR_SHAPES),
    (vgg.vgg16, {"stem": "imagenet"}, 4096, [IMAGENET_SHAPE]),
    (mobilenet.mobilenet_v1, {}, 1024, CIFAR_SHAPES),
    (mobilenet.mobilenet_v1, {"stem": "imagenet"}, 1024, [IMAGENET_SHAPE]),
    (mobilenet.mobilenet_v2, {}, 1280, CIFAR_SHAPES),
    (mobilenet.mobilenet_v2, {"stem": "imagenet", "width_multiplier": 1.4}, 1792, [IMAGENET_SHAPE]),
    (wide_resnet.wide_resnet28_2, {}, 128, [*CIFAR_SHAPES, IMAGENET_SHAPE]),
    (wide_resnet.wide_resnet28_8, {}, 512, CIFAR_SHAPES),
]


@pytest.mark.parametrize("builder, kwargs, features, shapes", OUTPUTS)
def test_call_output_is_float32_num_features(builder, kwargs, features, shapes):
    model = builder(**kwargs)
    assert model.num_features == features
    for shape in shapes:
        out = abstract_apply(model, shape)
        assert out.shape == (2, features) and out.dtype == jnp.float32


MICROS = [
    lenet.lenet5,
    alexnet.alexnet_micro,
    vgg.vgg_micro,
    functools.partial(vgg.vgg_micro, batch_norm=True),
    mobilenet.mobilenet_v1_micro,
    mobilenet.mobilenet_v2_micro,
    wide_resnet.wide_resnet_micro,
]


@pytest.mark.parametrize("builder", MICROS)
def test_micro_runs_finite_on_grayscale_28px(builder):
    model = builder()
    images = random_images((2, 28, 28, 1))
    variables = model.init(jax.random.key(0), images, train=False)
    out = model.apply(variables, images, train=False)
    assert out.shape == (2, model.num_features) and out.dtype == jnp.float32
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize(
    "builder, kwargs, has_bn",
    [
        (lenet.lenet5, {}, False),
        (alexnet.alexnet, {}, False),
        (alexnet.alexnet, {"stem": "imagenet"}, False),
        (vgg.vgg11, {}, False),
        (vgg.vgg16, {"stem": "imagenet"}, False),
        (vgg.vgg11, {"batch_norm": True}, True),
        (mobilenet.mobilenet_v1, {}, True),
        (mobilenet.mobilenet_v2, {}, True),
        (wide_resnet.wide_resnet28_2, {}, True),
    ],
)
def test_batch_stats_only_where_there_is_batch_norm(builder, kwargs, has_bn):
    shape = (1, 64, 64, 3) if kwargs.get("stem") == "imagenet" else (1, 32, 32, 3)
    variables = abstract_variables(builder(**kwargs), shape)
    assert ("batch_stats" in variables) == has_bn
    assert set(variables) <= {"params", "batch_stats"}


@pytest.mark.parametrize(
    "model, shape",
    [
        (alexnet.alexnet_micro(stem="imagenet"), (4, 64, 64, 3)),
        (vgg.vgg_micro(stem="imagenet"), (4, 32, 32, 3)),
    ],
)
def test_dropout_needs_train_and_an_rng(model, shape):
    images = random_images(shape)
    variables = model.init(jax.random.key(0), images, train=False)  # a single key is enough
    evaluation = model.apply(variables, images, train=False)
    without_rng = model.apply(variables, images, train=True)
    np.testing.assert_array_equal(without_rng, evaluation)
    np.testing.assert_array_equal(
        model.apply(variables, images, train=False, rngs={"dropout": jax.random.key(1)}), evaluation
    )
    first = model.apply(variables, images, train=True, rngs={"dropout": jax.random.key(1)})
    again = model.apply(variables, images, train=True, rngs={"dropout": jax.random.key(1)})
    other = model.apply(variables, images, train=True, rngs={"dropout": jax.random.key(2)})
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert not np.allclose(first, evaluation)


@pytest.mark.parametrize("builder", [alexnet.alexnet_micro, vgg.vgg_micro])
def test_dropout_zero_and_cifar_stem_ignore_the_rng(builder):
    for model, shape in [
        (builder(stem="imagenet", dropout=0.0), (2, 64, 64, 3)),
        (builder(), (2, 32, 32, 3)),
    ]:
        images = random_images(shape)
        variables = model.init(jax.random.key(0), images, train=False)
        noisy = model.apply(variables, images, train=True, rngs={"dropout": jax.random.key(1)})
        np.testing.assert_array_equal(noisy, model.apply(variables, images, train=False))


@pytest.mark.parametrize("builder", MICROS)
def test_bfloat16_computes_in_bfloat16_with_float32_params(builder):
    model = builder(dtype=jnp.bfloat16)
    variables = abstract_variables(model, (2, 32, 32, 3))
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables))
    apply = functools.partial(model.apply, train=False)
    maps = jax.eval_shape(
        functools.partial(apply, method="feature_maps"), variables, jnp.zeros((2, 32, 32, 3))
    )
    assert all(m.dtype == jnp.bfloat16 for m in maps.values())
    assert jax.eval_shape(apply, variables, jnp.zeros((2, 32, 32, 3))).dtype == jnp.float32


def test_lenet_zero_pads_28px_to_32px():
    model = lenet.lenet5()
    images = random_images((2, 28, 28, 1))
    padded = jnp.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    variables = model.init(jax.random.key(0), images, train=False)
    np.testing.assert_array_equal(
        model.apply(variables, images, train=False), model.apply(variables, padded, train=False)
    )
    with pytest.raises(ValueError, match="up to 32x32"):
        model.init(jax.random.key(0), jnp.zeros((1, 36, 36, 1)), train=False)


def test_adaptive_avg_pool_matches_torch_bins():
    x = random_images((1, 13, 10, 2))
    pooled = alexnet.adaptive_avg_pool(x, 6)
    expected = np.zeros((1, 6, 6, 2), np.float32)
    for i in range(6):
        for j in range(6):  # torch: bin i covers [floor(i n / 6), ceil((i + 1) n / 6))
            rows = slice(i * 13 // 6, -(-(i + 1) * 13 // 6))
            cols = slice(j * 10 // 6, -(-(j + 1) * 10 // 6))
            expected[0, i, j] = np.asarray(x)[0, rows, cols].mean(axis=(0, 1))
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(alexnet.adaptive_avg_pool(x[:, :6, :6], 6), x[:, :6, :6], rtol=1e-6)


@pytest.mark.parametrize(
    "value, expected", [(32, 32), (11.2, 16), (8, 8), (18, 24), (12, 16), (3.5, 8), (1792, 1792)]
)
def test_make_divisible_rounds_like_torchvision(value, expected):
    assert mobilenet.make_divisible(value) == expected


def test_mobilenet_width_multiplier():
    variables = abstract_variables(mobilenet.mobilenet_v2(width_multiplier=0.35), (1, 32, 32, 3))
    assert variables["params"]["stem_conv"]["kernel"].shape == (3, 3, 3, 16)  # make_divisible(11.2) = 16
    assert mobilenet.mobilenet_v2(width_multiplier=0.35).num_features == 1280  # max(1, alpha) at the end
    assert mobilenet.mobilenet_v2(width_multiplier=1.4).num_features == 1792
    assert mobilenet.mobilenet_v1(width_multiplier=0.25).num_features == 256
    # The paper's 0.25, 0.5 and 0.75 MobileNet-224 have 0.5M, 1.3M and 2.6M parameters with the classifier.
    for alpha, millions in ((0.25, 0.5), (0.5, 1.3), (0.75, 2.6)):
        model = mobilenet.mobilenet_v1(width_multiplier=alpha)
        total = count_params(abstract_variables(model, (1, 32, 32, 3))) + model.num_features * 1000 + 1000
        assert round(total / 1e6, 1) == millions


@pytest.mark.parametrize("stride, features, identity", [(1, 8, True), (2, 8, False), (1, 16, False)])
def test_inverted_residual_shortcut_and_linear_bottleneck(stride, features, identity):
    block = mobilenet.InvertedResidual(features, stride, expansion=6)
    x = random_images((2, 8, 8, 8))
    variables = block.init(jax.random.key(0), x, train=False)
    params = jax.tree_util.tree_map_with_path(
        lambda path, p: jnp.zeros_like(p) if "project_bn" in jax.tree_util.keystr(path) else p,
        variables["params"],
    )
    out = block.apply({"params": params, "batch_stats": variables["batch_stats"]}, x, train=False)
    # A zeroed projection BN leaves exactly the shortcut: x when the shape is kept, 0 otherwise.
    np.testing.assert_array_equal(out, x if identity else jnp.zeros_like(out))


def test_wide_resnet_bn_momentum_and_leaky_relu():
    model = wide_resnet.wide_resnet_micro()
    images = random_images((4, 16, 16, 3))
    variables = model.init(jax.random.key(0), images, train=False)
    maps, updates = model.apply(variables, images, train=True, method="feature_maps", mutable=["batch_stats"])
    # Flax momentum 0.999: running mean <- 0.999 * 0 + 0.001 * the batch mean of the first BN's input.
    new_mean = updates["batch_stats"]["stage1_block0"]["bn1"]["mean"]
    np.testing.assert_allclose(new_mean, 0.001 * maps["stem"].mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-7)
    last = np.asarray(maps["stage3"])
    assert last.min() < 0  # leaky ReLU keeps 0.1 of the negative part


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: lenet.lenet5(activation="sigmoid"), "activation"),
        (lambda: alexnet.alexnet(stem="tiny"), "stem"),
        (lambda: alexnet.alexnet(dropout=1.0), "dropout"),
        (lambda: alexnet.AlexNet(widths=(8, 8, 8)), "widths"),
        (lambda: vgg.vgg11(stem="ImageNet"), "stem"),
        (lambda: vgg.vgg16(dropout=-0.1), "dropout"),
        (lambda: vgg.VGG((1, 1), (8,)), "widths"),
        (lambda: mobilenet.mobilenet_v1(width_multiplier=0.0), "width_multiplier"),
        (lambda: mobilenet.mobilenet_v2(stem="svhn"), "stem"),
        (lambda: mobilenet.MobileNetV2(settings=((6, 16, 1, 3),)), "settings"),
        (lambda: wide_resnet.WideResNet(depth=27), "depth"),
        (lambda: wide_resnet.WideResNet(widen_factor=0), "widen_factor"),
    ],
)
def test_invalid_options_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()
