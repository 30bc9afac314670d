"""I-JEPA's multi-block masks and loss, MSN's loss against numpy, both methods' losses wired to them, their
refusals, and what the export and the configs need of them. Their mechanism (a ViT fed a subset of its tokens
beside an EMA target) trains and resumes end to end with MAE and MoCo v3 in tests/test_methods.py."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from configs import common
from configs import ijepa as ijepa_config
from configs import msn as msn_config
from jaxssl import losses, masking, models, sharding
from jaxssl.methods import METHODS, LossInputs, MethodContext
from jaxssl.methods.ijepa import CONTEXT_ASPECT
from jaxssl.models.jepa import IJEPANetwork
from jaxssl.models.msn import prototype_scores
from jaxssl.models.vit import ViT

PAPER_MASKS = dict(target_scale=(0.15, 0.2), target_aspect=(0.75, 1.5), context_scale=(0.85, 1.0))


def draw(grid, keys, **kwargs):
    """multiblock_masks of each key, jitted, as numpy: (context (N, L), targets (N, T, L))."""
    masks = jax.jit(jax.vmap(functools.partial(masking.multiblock_masks, grid=grid, **kwargs)))(keys)
    return tuple(np.asarray(m) for m in masks)


@pytest.mark.parametrize(("grid", "min_keep", "target_tokens"), [((7, 7), 17, 9), ((14, 14), 65, 30)])
def test_multiblock_masks_have_static_counts_disjoint_targets_and_blocks_of_the_asked_shape(
    grid, min_keep, target_tokens
):
    context, targets = draw(grid, jax.random.split(jax.random.key(0), 6), min_keep=min_keep, **PAPER_MASKS)
    length = grid[0] * grid[1]
    assert context.shape == (6, length) and targets.shape == (6, 4, length)
    np.testing.assert_array_equal(context.sum(axis=1), min_keep)
    np.testing.assert_array_equal(targets.sum(axis=2), target_tokens)
    assert not np.any(context[:, None] & targets), "no target token is in the context"
    for block in targets.reshape(-1, *grid):
        rows, cols = np.nonzero(block.any(axis=1))[0], np.nonzero(block.any(axis=0))[0]
        height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert height * width == block.sum(), "a target is a filled rectangle"
        assert 0.15 <= height * width / length <= 0.2 and 0.75 <= height / width <= 1.5


def test_a_context_that_cannot_be_redrawn_falls_back_to_targets_on_one_block_and_keeps_min_keep():
    # 4 x 4 grid, 4 targets of 2 x 2: only 4 identical targets leave 12 of the 16 tokens, so every draw falls back.
    sizes = masking.check_multiblock((4, 4), 4, (0.2, 0.3), (1.0, 1.0), (1.0, 1.0), CONTEXT_ASPECT, 12)
    assert sizes.target_shapes == ((2, 2),) and sizes.guaranteed_context == 12
    context, targets = draw(
        (4, 4),
        jax.random.split(jax.random.key(1), 4),
        target_scale=(0.2, 0.3),
        target_aspect=(1.0, 1.0),
        context_scale=(1.0, 1.0),
        min_keep=12,
    )
    np.testing.assert_array_equal(context.sum(axis=1), 12)
    assert np.all(targets == targets[:, :1]) and not np.any(context[:, None] & targets)


def test_mask_indices_are_the_ones_in_order():
    mask = np.array([[0, 1, 0, 1, 1], [1, 0, 0, 1, 1]], bool)
    np.testing.assert_array_equal(masking.mask_indices(mask, 3), [[1, 3, 4], [0, 3, 4]])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(target_scale=(0.0, 0.2)), r"target_scale must be a pair \(lo, hi\) with 0 < lo <= hi < 1"),
        (dict(target_scale=(0.15, 1.0)), "target_scale must be a pair"),
        (dict(context_scale=(0.85, 1.2)), "context_scale must be a pair"),
        (
            dict(grid=(4, 4)),
            r"no target block of scale \(0.15, 0.2\) and aspect \(0.75, 1.5\) fits the 4 x 4",
        ),
        (dict(min_keep=41), r"min_keep must be an int in \[1, 40\] on the 7 x 7 grid"),
    ],
)
def test_masks_that_cannot_be_drawn_are_one_clear_error(changes, message):
    kwargs = dict(grid=(7, 7), num_targets=4, **PAPER_MASKS, context_aspect=CONTEXT_ASPECT, min_keep=17)
    with pytest.raises(ValueError, match=message) as raised:
        masking.check_multiblock(**{**kwargs, **changes})
    assert "\n" not in str(raised.value)


def micro_context(backbone="vit_micro"):
    return MethodContext(
        backbone=models.make_backbone(backbone),
        image_mean=(0.5,),
        image_std=(0.25,),
        dtype=jnp.float32,
        num_examples=32,
        global_batch=8,
        image_size=16,
    )


@pytest.mark.parametrize(
    ("name", "backbone", "kwargs", "message"),
    [
        ("ijepa", "resnet_micro", dict(), "ijepa masks patch tokens and needs a ViT backbone"),
        ("msn", "resnet_micro", dict(), "msn masks patch tokens and needs a ViT backbone"),
        (
            "ijepa",
            "vit_micro",
            dict(target_scale=(0.15, 0.2)),
            "no target block .* fits the 4 x 4 token grid",
        ),
        ("ijepa", "vit_micro", dict(target_scale=(0.2, 0.3), distance="l1"), "unknown distance 'l1'"),
        ("msn", "vit_micro", dict(mask_ratio=1.0), "mask_ratio must be in"),
    ],
)
def test_the_methods_refuse_what_they_cannot_mask_when_they_are_made(name, backbone, kwargs, message):
    with pytest.raises(ValueError, match=message):
        METHODS[name](micro_context(backbone), **kwargs)


def numpy_smooth_l1(difference):
    size = np.abs(difference)
    return np.where(size < 1.0, 0.5 * difference**2, size - 0.5)


@pytest.mark.parametrize("distance", ["smooth_l1", "l2"])
def test_ijepa_loss_regresses_the_normalised_target_tokens_of_each_block(distance):
    rng = np.random.default_rng(0)
    predictions = rng.normal(0, 1.5, (2, 3, 4, 5)).astype(np.float32)
    target_tokens = rng.normal(2.0, 3.0, (2, 9, 5)).astype(np.float32)
    target_ids = np.stack([rng.permutation(9)[:4] for _ in range(6)]).reshape(2, 3, 4)
    total = 0.0
    for b in range(2):
        for block in range(3):
            for k, token in enumerate(target_ids[b, block]):
                s = target_tokens[b, token]
                normalised = (s - s.mean()) / np.sqrt(s.var() + 1e-6)
                difference = predictions[b, block, k] - normalised
                total += np.sum(numpy_smooth_l1(difference) if distance == "smooth_l1" else difference**2)
    value = losses.ijepa(predictions, target_tokens, target_ids, distance)
    np.testing.assert_allclose(value, total / predictions.size, rtol=1e-5)
    exact = losses.feature_layer_norm(target_tokens)[np.arange(2)[:, None, None], target_ids]
    assert float(losses.ijepa(exact, target_tokens, target_ids, distance)) < 1e-10


def numpy_msn(anchor_scores, target_scores, anchor_temp, target_temp, me_max_weight):
    """Section 3's objective term by term: sharpened targets, cross-entropy per anchor, entropy of the mean."""

    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    targets = softmax(target_scores / target_temp)
    predictions = [softmax(s / anchor_temp) for s in anchor_scores]
    cross_entropy = np.mean([-np.sum(targets * np.log(p), axis=1).mean() for p in predictions])
    mean_prediction = np.concatenate(predictions).mean(axis=0)
    return cross_entropy + me_max_weight * np.sum(mean_prediction * np.log(mean_prediction))


def random_scores(seed, views=3, batch=6, prototypes=5):
    rng = np.random.default_rng(seed)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    q = unit(rng.normal(size=(prototypes, 4)))
    anchors = [(unit(rng.normal(size=(batch, 4))) @ q.T).astype(np.float32) for _ in range(views)]
    return anchors, (unit(rng.normal(size=(batch, 4))) @ q.T).astype(np.float32)


@pytest.mark.parametrize("me_max_weight", [0.0, 1.0, 5.0])
def test_msn_loss_matches_the_papers_objective(me_max_weight):
    anchors, target = random_scores(0)
    targets = losses.msn_targets(target, 0.025)
    value = losses.msn(anchors, targets, 0.1, me_max_weight)
    np.testing.assert_allclose(value, numpy_msn(anchors, target, 0.1, 0.025, me_max_weight), rtol=1e-5)
    balanced = losses.msn_targets(target, 0.025, sinkhorn_iterations=3)
    np.testing.assert_allclose(balanced, losses.sinkhorn(target, 0.025, 3), rtol=1e-6)


def test_msn_loss_is_the_same_on_1_and_8_devices():
    anchors, target = random_scores(1, views=2, batch=16, prototypes=8)

    def loss(anchors, target):
        return losses.msn(anchors, losses.msn_targets(target, 0.025, sinkhorn_iterations=3), 0.1, 1.0)

    one_device = jax.jit(loss)(anchors, target)
    split = NamedSharding(sharding.make_mesh(8), PartitionSpec(sharding.DATA_AXIS))
    place = lambda x: jax.device_put(x, split)  # noqa: E731
    eight_devices = jax.jit(loss)([place(a) for a in anchors], place(target))
    np.testing.assert_allclose(eight_devices, one_device, rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        (
            "ijepa",
            dict(num_targets=2, target_scale=(0.2, 0.3), min_keep=4, predictor_dim=16, predictor_depth=1),
        ),
        ("msn", dict(mask_ratio=0.5, head_hidden_dims=(16,), projection_dim=8, num_prototypes=12)),
    ],
)
def test_the_backbone_params_are_a_plain_vits_so_the_timm_export_takes_them(name, kwargs):
    # weights/export.py reads params["backbone"] and network.backbone, whatever the method (tests/test_export.py
    # checks the timm file of such a ViT against timm's own forward).
    context = micro_context()
    method = METHODS[name](context, **kwargs)
    images = jnp.zeros((2, 16, 16, 1))
    shapes = lambda module: jax.eval_shape(
        functools.partial(module.init, train=True), jax.random.key(0), images
    )  # noqa: E731
    params, vit_params = shapes(method.network)["params"], shapes(context.backbone)["params"]
    assert isinstance(method.network.backbone, ViT) and method.eval_weights == "target"
    assert jax.tree.map(lambda x: x.shape, params["backbone"]) == jax.tree.map(lambda x: x.shape, vit_params)


@pytest.mark.parametrize("dataset", [name for name in common.DATASETS if name != "folder"])
def test_every_datasets_config_draws_masks_on_its_token_grid(dataset):
    for tiny in (False, True):
        config = ijepa_config.get_config(f"dataset={dataset},tiny={tiny}")
        side = config.data.image_size // config.model.patch_size
        method = config.method
        masking.check_multiblock(
            (side, side),
            method.num_targets,
            method.target_scale,
            method.target_aspect,
            method.context_scale,
            CONTEXT_ASPECT,
            method.min_keep,
        )
        config = msn_config.get_config(f"dataset={dataset},tiny={tiny}")
        masking.keep_count((config.data.image_size // config.model.patch_size) ** 2, config.method.mask_ratio)
        assert config.augment.small_size % config.model.patch_size == 0


def micro_inputs(method, sizes, batch=8):
    """Online params, an EMA target initialised apart from them (so a test sees which network a term reads),
    and LossInputs of random images in [0, 1], one view per size in `sizes`."""
    keys = jax.random.split(jax.random.key(0), len(sizes) + 2)
    views = [jax.random.uniform(k, (batch, size, size, 1)) for k, size in zip(keys, sizes, strict=False)]
    init = jax.jit(functools.partial(method.network.init, train=True))
    online, target = init(keys[-2], views[0]), init(keys[-1], views[0])
    inputs = LossInputs(
        batch_stats=online.get("batch_stats", {}),
        target={"params": target["params"], "batch_stats": target.get("batch_stats", {})},
        extra={},
        views=views,
        indices=jnp.arange(batch, dtype=jnp.int32),
        labels=jnp.full((batch,), -1, jnp.int32),
        step=jnp.asarray(0, jnp.int32),
        key=jax.random.key(3),
    )
    return online["params"], inputs


MICRO_IJEPA = dict(num_targets=2, target_scale=(0.2, 0.3), min_keep=4)


def test_ijepa_predicts_the_target_encoders_block_tokens_from_the_context_tokens_only():
    method = METHODS["ijepa"](micro_context(), **MICRO_IJEPA, predictor_dim=16, predictor_depth=1)
    params, inputs = micro_inputs(method, (16,))
    images = inputs.views[0]
    # The masks as the method draws them: one key per image from the step's key.
    keys = jax.random.split(jax.random.fold_in(inputs.key, 1), len(images))
    context, targets = draw((4, 4), keys, **MICRO_IJEPA)
    assert len({row.tobytes() for row in context}) > 1, "each image draws its own masks"
    sizes = masking.check_multiblock((4, 4), 2, (0.2, 0.3), (0.75, 1.5), (0.85, 1.0), CONTEXT_ASPECT, 4)
    ids = dict(
        context_ids=masking.mask_indices(jnp.asarray(context), 4),
        target_ids=masking.mask_indices(jnp.asarray(targets), sizes.target_tokens),
    )
    predict = jax.jit(functools.partial(method.network.apply, train=True))
    outputs = predict({"params": params}, images, **ids)
    tokens = method.network.apply(inputs.target, images, train=False, method=IJEPANetwork.target_tokens)
    loss = jax.jit(method.loss)
    value, aux = loss(params, inputs)
    np.testing.assert_allclose(
        value, losses.ijepa(outputs["pred"], tokens, ids["target_ids"], "smooth_l1"), rtol=1e-6
    )
    np.testing.assert_allclose(aux.features, outputs["features"], rtol=1e-6)
    # Noise outside each image's context block leaves the prediction as it was; the loss moves only because
    # the target encoder sees the whole image.
    outside = np.repeat(np.repeat(~context.reshape(-1, 4, 4), 4, axis=1), 4, axis=2)[..., None]
    noisy = jnp.where(outside, jax.random.uniform(jax.random.key(7), images.shape), images)
    np.testing.assert_allclose(predict({"params": params}, noisy, **ids)["pred"], outputs["pred"], rtol=1e-6)
    assert float(loss(params, dataclasses.replace(inputs, views=[noisy]))[0]) != pytest.approx(float(value))


def test_msn_scores_the_masked_anchor_and_the_focal_views_against_the_target_views_assignment():
    method = METHODS["msn"](
        micro_context(),
        mask_ratio=0.5,
        head_hidden_dims=(16,),
        projection_dim=8,
        num_prototypes=12,
        use_bn_in_head=False,
    )
    params, inputs = micro_inputs(method, (16, 16, 8, 8))
    anchor_view, target_view, *focal_views = inputs.views
    # Half of the anchor's 16 patches, dropped as the method drops them; without BatchNorm each row is its own.
    ids_keep = masking.random_masking(jax.random.fold_in(inputs.key, 1), 8, 16, 8)[0]
    apply = jax.jit(functools.partial(method.network.apply, train=True))
    anchors = [apply({"params": params}, anchor_view, ids_keep=ids_keep)]
    anchors += [apply({"params": params}, view) for view in focal_views]
    # The target view through the EMA network, scored against the online prototypes.
    target_scores = prototype_scores(apply(inputs.target, target_view)["projection"], params["prototypes"])
    (value, aux), gradient = jax.jit(jax.value_and_grad(method.loss, has_aux=True))(params, inputs)
    expected = numpy_msn([a["scores"] for a in anchors], target_scores, 0.1, 0.025, 1.0)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    np.testing.assert_allclose(aux.features, anchors[0]["features"], rtol=1e-6)
    # The prototypes learn from the anchors' side only: the target's assignment is a constant of the loss.
    targets = losses.msn_targets(target_scores, 0.025)

    def anchors_side(prototypes):
        scores = [prototype_scores(a["projection"], prototypes) for a in anchors]
        return losses.msn(scores, targets, 0.1, 1.0)

    np.testing.assert_allclose(
        gradient["prototypes"], jax.grad(anchors_side)(params["prototypes"]), rtol=1e-4, atol=1e-7
    )
