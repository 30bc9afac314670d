"""iBOT and DINOv2's additions: KoLeo and the masked-patch loss against numpy, on 1 and 8 devices; the block-wise
masks; the methods' losses wired to those functions (iBOT, DINO with KoLeo and Sinkhorn-Knopp centering); their
refusals; the timm export of an iBOT backbone. iBOT's exact resume is in tests/test_methods.py (STATEFUL)."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from jaxssl import experiment, losses, sharding
from jaxssl.methods import LossInputs, ibot
from jaxssl.methods.dino import koleo_term, teacher_targets
from jaxssl.weights import export
from tests.helpers import tiny_config
from tests.test_export import TIMM_MANIFEST, timm_vit
from tests.test_methods import micro_method


def numpy_koleo(features, eps=1e-8):
    """-1/B sum_i log(min_{j != i} ||x_i - x_j|| + eps) over the L2-normalised rows, row by row."""
    x = np.asarray(features, np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    total = 0.0
    for i in range(len(x)):
        nearest = min(np.linalg.norm(x[i] - x[j]) for j in range(len(x)) if j != i)
        total += np.log(nearest + eps)
    return -total / len(x)


def numpy_log_softmax(row):
    row = np.asarray(row, np.float64)
    return row - row.max() - np.log(np.sum(np.exp(row - row.max())))


def numpy_ibot_patch(student, teacher, mask, center, student_temp, teacher_temp):
    """iBOT's L_MIM: per image, the cross entropy averaged over its masked patches; then the mean over the
    images with at least one masked patch."""
    per_image = []
    for b in range(len(mask)):
        terms = []
        for n in range(mask.shape[1]):
            if mask[b, n]:
                target = np.exp(numpy_log_softmax((teacher[b, n] - center) / teacher_temp))
                terms.append(-np.sum(target * numpy_log_softmax(student[b, n] / student_temp)))
        if terms:
            per_image.append(np.mean(terms))
    return np.mean(per_image) if per_image else 0.0


def patch_case(seed, batch=8, tokens=6, k=5):
    rng = np.random.default_rng(seed)
    student = rng.normal(size=(batch, tokens, k)).astype(np.float32)
    teacher = rng.normal(size=(batch, tokens, k)).astype(np.float32)
    mask = (rng.uniform(size=(batch, tokens)) < 0.4).astype(np.float32)
    mask[1] = 0.0  # an image without a masked patch is left out of the mean
    center = rng.normal(size=(k,)).astype(np.float32) * 0.1
    return student, teacher, mask, center


def test_koleo_matches_numpy_and_has_a_finite_gradient_on_duplicate_rows():
    features = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    np.testing.assert_allclose(losses.koleo(features), numpy_koleo(features), rtol=1e-5)
    features[3] = 2.0 * features[5]  # the same direction: distance 0 after normalisation
    np.testing.assert_allclose(losses.koleo(features), numpy_koleo(features), rtol=1e-5)
    assert np.all(np.isfinite(jax.grad(losses.koleo)(features)))
    spread = np.eye(4, dtype=np.float32)
    assert losses.koleo(spread) < losses.koleo(spread + 0.5)  # rows further apart: lower loss


@pytest.mark.parametrize("temperatures", [(0.1, 0.04), (0.2, 0.07)])
def test_ibot_patch_matches_numpy_and_reads_only_the_masked_patches(temperatures):
    student, teacher, mask, center = patch_case(1)
    value = losses.ibot_patch(student, teacher, mask, center, *temperatures)
    np.testing.assert_allclose(
        value, numpy_ibot_patch(student, teacher, mask, center, *temperatures), rtol=1e-5
    )
    changed = student.copy()
    changed[mask == 0] += 10.0
    np.testing.assert_allclose(
        losses.ibot_patch(changed, teacher, mask, center, *temperatures), value, rtol=1e-6
    )
    grads = jax.grad(losses.ibot_patch, argnums=(0, 1, 3))(student, teacher, mask, center)
    assert np.any(grads[0] != 0) and np.all(grads[1] == 0) and np.all(grads[2] == 0)
    assert losses.ibot_patch(student, teacher, np.zeros_like(mask), center) == 0.0


SHARDED = {
    "koleo": (losses.koleo, lambda rng: (rng.normal(size=(16, 6)).astype(np.float32),)),
    "ibot_patch": (
        lambda s, t, m: losses.ibot_patch(s, t, m, jnp.zeros(5)),
        lambda rng: patch_case(2, 16)[:3],
    ),
}


@pytest.mark.parametrize("name", sorted(SHARDED))
def test_same_value_on_1_and_8_devices(name):
    fn, make_inputs = SHARDED[name]
    inputs = make_inputs(np.random.default_rng(3))
    one_device = jax.jit(fn)(*jax.device_put(inputs, jax.devices()[0]))
    split = jax.device_put(inputs, NamedSharding(sharding.make_mesh(8), PartitionSpec(sharding.DATA_AXIS)))
    assert all(len(leaf.sharding.device_set) == 8 for leaf in split)
    np.testing.assert_allclose(jax.jit(fn)(*split), one_device, rtol=1e-5, atol=1e-7)


def test_blockwise_masks_mask_a_fraction_of_the_images_within_the_ratio():
    masks = np.asarray(ibot.blockwise_masks(jax.random.key(0), 400, 7, (0.1, 0.5), 0.5, 4))
    counts = masks.sum(axis=1)
    assert set(np.unique(masks)) <= {0.0, 1.0} and counts.max() <= int(0.5 * 49)
    assert 0.4 < np.mean(counts > 0) < 0.6  # half the images are masked
    assert 0.2 < counts[counts > 0].mean() / 49 < 0.35  # ratios drawn from (0.1, 0.5), blocks of >= 4 patches
    every = np.asarray(ibot.blockwise_masks(jax.random.key(1), 64, 7, (0.3, 0.3), 1.0, 4)).sum(axis=1)
    assert np.all((every >= 8) & (every <= 14))  # a target of floor(0.3 * 49) = 14, most of it reached


def random_inputs(method, sizes, batch=8):
    """A fresh online network (its own EMA target) and LossInputs of random images, one view per size in
    `sizes` (the global crops first), built under jit."""

    @jax.jit
    def build():
        views = [
            jax.random.uniform(jax.random.key(i), (batch, size, size, 1)) for i, size in enumerate(sizes)
        ]
        variables = {"params": method.network.init(jax.random.key(9), views[0], train=True)["params"]}
        inputs = LossInputs(
            batch_stats={},
            target={**variables, "batch_stats": {}},
            extra=method.init_extra(jax.random.key(2)) if method.init_extra else {},
            views=views,
            indices=jnp.arange(batch, dtype=jnp.int32),
            labels=jnp.full((batch,), -1, jnp.int32),
            step=jnp.asarray(0, jnp.int32),
            key=jax.random.key(3),
        )
        return variables, inputs

    return build()


def test_ibot_distils_the_unmasked_teachers_cls_and_patch_tokens():
    method = micro_method(
        "ibot",
        backbone="vit_micro",
        head_hidden_dims=(16,),
        bottleneck_dim=8,
        out_dim=12,
        patch_out_dim=12,
        mask_probability=1.0,
        patch_center_momentum=0.5,
    )
    variables, inputs = random_inputs(method, (16, 16, 8, 8))
    extra = {"center": jnp.linspace(-1.0, 1.0, 12), "patch_center": jnp.linspace(1.0, -1.0, 12)}
    inputs = dataclasses.replace(inputs, extra=extra)
    value, aux = jax.jit(method.loss)(variables["params"], inputs)

    @jax.jit
    def by_the_papers_losses(variables, inputs):
        global_crops = jnp.concatenate(inputs.views[:2])
        mask = ibot.blockwise_masks(jax.random.fold_in(inputs.key, 0), 16, 4, (0.1, 0.5), 1.0, 1)
        student = method.network.apply(variables, global_crops, train=True, mask=mask)
        small = method.network.apply(variables, jnp.concatenate(inputs.views[2:]), train=True, patches=False)
        teacher = method.network.apply(inputs.target, global_crops, train=True)
        cls = losses.dino(
            jnp.split(student["projection"], 2) + jnp.split(small["projection"], 2),
            jnp.split(teacher["projection"], 2),
            extra["center"],
            0.1,
            0.04,
        )
        patch = [
            losses.ibot_patch(s, t, m, extra["patch_center"], 0.1, 0.04)
            for s, t, m in zip(
                jnp.split(student["patch_projection"], 2),
                jnp.split(teacher["patch_projection"], 2),
                jnp.split(mask, 2),
                strict=True,
            )
        ]
        return cls, sum(patch) / 2, jnp.mean(teacher["patch_projection"].reshape(-1, 12), axis=0)

    cls, patch, patch_mean = by_the_papers_losses(variables, inputs)
    np.testing.assert_allclose(aux.metrics["ibot_cls"], cls, rtol=1e-5)
    np.testing.assert_allclose(aux.metrics["ibot_patch"], patch, rtol=1e-5)
    np.testing.assert_allclose(value, cls + patch, rtol=1e-5)
    np.testing.assert_allclose(
        aux.extra["patch_center"], 0.5 * extra["patch_center"] + 0.5 * patch_mean, rtol=1e-5
    )


def test_dino_with_koleo_and_sinkhorn_knopp_centering():
    method = micro_method(
        "dino",
        backbone="vit_micro",
        head_hidden_dims=(16,),
        bottleneck_dim=8,
        out_dim=12,
        centering="sinkhorn_knopp",
        koleo_weight=0.3,
        koleo_groups=2,
    )
    assert method.init_extra is None  # no centre to keep
    variables, inputs = random_inputs(method, (16, 16))
    value, aux = jax.jit(method.loss)(variables["params"], inputs)

    @jax.jit
    def by_the_papers_losses(variables, inputs):
        student = [method.network.apply(variables, view, train=True) for view in inputs.views]
        teacher = method.network.apply(inputs.target, jnp.concatenate(inputs.views[:2]), train=True)
        codes = jnp.split(losses.sinkhorn(teacher["projection"], 0.04, 3), 2)
        distillation = losses.self_distillation([out["projection"] for out in student], codes, 0.1)
        return distillation, [out["features"] for out in student[:2]]

    distillation, features = by_the_papers_losses(variables, inputs)
    koleo = sum(numpy_koleo(crop[rows]) for crop in features for rows in (slice(0, 4), slice(4, 8))) / 2
    np.testing.assert_allclose(aux.metrics["koleo"], koleo, rtol=1e-5)
    np.testing.assert_allclose(value, distillation + 0.3 * koleo, rtol=1e-5)
    assert aux.extra is None


def test_sinkhorn_knopp_targets_balance_all_rows_together_and_koleo_runs_per_group():
    rng = np.random.default_rng(4)
    cls, patches = rng.normal(size=(4, 6)).astype(np.float32), rng.normal(size=(2, 3, 6)).astype(np.float32)
    targets = teacher_targets([cls, patches], None, 0.1, "sinkhorn_knopp", 3)
    codes = losses.sinkhorn(np.concatenate([cls, patches.reshape(6, 6)]), 0.1, 3)
    np.testing.assert_allclose(targets[0], codes[:4], rtol=1e-6)
    np.testing.assert_allclose(targets[1], codes[4:].reshape(2, 3, 6), rtol=1e-6)
    centred = teacher_targets([cls], np.ones(6, np.float32), 0.1, "ema", 3)[0]
    np.testing.assert_allclose(centred, losses.centered_softmax(cls, np.ones(6, np.float32), 0.1))
    crops = [rng.normal(size=(8, 3)).astype(np.float32) for _ in range(2)]
    expected = sum(numpy_koleo(crop[rows]) for crop in crops for rows in (slice(0, 4), slice(4, 8))) / 2
    np.testing.assert_allclose(koleo_term(crops, 2), expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("ibot", dict(mask_ratio=(0.0, 0.5)), "mask_ratio"),
        ("ibot", dict(mask_ratio=(0.2, 1.0)), "mask_ratio"),
        ("ibot", dict(out_dim=12, patch_out_dim=24), "patch_out_dim=24 needs shared_head=False"),
        ("ibot", dict(koleo_weight=0.1, koleo_groups=8), "KoLeo needs at least 2 rows per group"),
        ("dino", dict(koleo_weight=0.1, koleo_groups=8), "KoLeo needs at least 2 rows per group"),
        ("dino", dict(centering="mean"), "centering must be one of"),
    ],
)
def test_bad_options_are_refused_before_anything_compiles(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        micro_method(name, backbone="vit_micro", **kwargs)


def test_ibot_needs_a_vit_and_is_refused_in_one_line_by_the_run(fashion_dir):
    config = tiny_config("ibot", fashion_dir, steps=1, options="backbone=resnet18")
    with pytest.raises(ValueError, match="ibot masks patch tokens and needs a ViT backbone"):
        experiment.prepare(config)


def test_an_ibot_backbone_is_a_plain_vit_that_exports_to_timm_and_computes_our_features():
    # The export reads params["backbone"] and network.backbone (weights/export.py): iBOT's mask token and heads
    # stay outside them, so its backbone has exactly timm's names and shapes and timm computes its features.
    method = micro_method(
        "ibot", backbone="vit_micro", head_hidden_dims=(16,), bottleneck_dim=8, out_dim=12, patch_out_dim=12
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (4, 16, 16, 1)).astype(np.float32)
    variables = jax.jit(lambda x: method.network.init(jax.random.key(0), x, train=True))(images)
    params = jax.tree.map(lambda x: x + rng.normal(0, 0.05, x.shape).astype(np.float32), variables["params"])
    vit = method.network.backbone
    positions = vit.apply({"params": params["backbone"]}, method=lambda module: module.pos_table)
    probe = {"kernel": rng.normal(size=(32, 10)).astype(np.float32), "bias": np.zeros(10, np.float32)}
    sd = export.named_arrays("timm", {"params": params["backbone"]}, probe, positions)
    with open(TIMM_MANIFEST) as f:
        manifest = json.load(f)
    assert {name: list(array.shape) for name, array in sd.items()} == manifest["state_dict"]
    kwargs = export.timm_kwargs(vit, channels=1, classes=10)
    assert kwargs == manifest["timm_kwargs"]
    ours = method.network.apply({"params": params}, images, train=False, method="features")
    normalised = (images - 0.5) / 0.25  # micro_method's image_mean and image_std
    features, _ = timm_vit(sd, normalised.transpose(0, 3, 1, 2), kwargs)
    np.testing.assert_allclose(features, ours, rtol=1e-4, atol=1e-5)
