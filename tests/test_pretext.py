"""The pretext transforms against loops, the permutation set, and the pretext methods at the loss level."""

import importlib
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from configs import common
from jaxssl import augment, losses, models, sharding
from jaxssl.augment import pretext
from jaxssl.methods import METHODS, LossInputs, MethodContext, context_encoder
from jaxssl.methods.tile_task import TILE_KEY_SALT
from jaxssl.models import cpc
from jaxssl.probes import layers
from tests.test_methods import micro_inputs, micro_method

# The (row, column) step from the centre cell to each neighbour label, as Doersch et al. (2015) number them.
NEIGHBOUR_STEPS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def random_images(batch=3, size=28, channels=1, seed=0):
    return np.random.default_rng(seed).random((batch, size, size, channels), dtype=np.float32)


def test_rotations_stack_each_quarter_turn_of_the_batch_with_its_label():
    images = random_images(batch=3, size=5, channels=2)
    rotated, labels = pretext.rotations(jnp.asarray(images))
    assert rotated.shape == (12, 5, 5, 2)
    for k, b in itertools.product(range(4), range(3)):
        np.testing.assert_array_equal(rotated[k * 3 + b], np.rot90(images[b], k, axes=(0, 1)))
        assert labels[k * 3 + b] == k
    # A quarter turn counter-clockwise moves the top-right corner to the top-left.
    np.testing.assert_array_equal(rotated[3, 0, 0], images[0, 0, -1])


def test_rotations_refuse_a_non_square_batch():
    with pytest.raises(ValueError, match="square"):
        pretext.rotations(jnp.zeros((2, 4, 6, 1)))


def min_hamming(permutations):
    distances = (permutations[:, None, :] != permutations[None, :, :]).sum(-1)
    return distances[~np.eye(len(permutations), dtype=bool)].min()


def test_permutation_set_is_deterministic_distinct_and_far_apart():
    hundred = pretext.permutation_set(100, 9, 2)
    assert hundred.shape == (100, 9) and hundred.dtype == np.int32
    np.testing.assert_array_equal(hundred[0], np.arange(9))  # starts from the identity
    assert all(sorted(row) == list(range(9)) for row in hundred.tolist())
    assert len({tuple(row) for row in hundred.tolist()}) == 100
    assert min_hamming(hundred) == 6  # what greedy max-min reaches (the docstring's figure)
    pretext.permutation_set.cache_clear()
    np.testing.assert_array_equal(pretext.permutation_set(100, 9, 2), hundred)


def test_permutation_set_refuses_what_cannot_exist():
    with pytest.raises(ValueError, match="only 24 permutations"):
        pretext.permutation_set(25, 4, 2)
    with pytest.raises(ValueError, match="Hamming distance >= 3"):
        pretext.permutation_set(24, 4, 3)  # all 24 of 4 cells include pairs one swap apart
    assert min_hamming(pretext.permutation_set(24, 4, 2)) == 2


def test_tile_grid_refuses_tiles_and_jitter_that_leave_their_cell():
    with pytest.raises(ValueError, match="do not fit"):
        pretext.TileGrid(28, 3, 10, 0)
    with pytest.raises(ValueError, match="at most 1"):
        pretext.TileGrid(28, 3, 7, 2)
    layout = pretext.TileGrid(29, 3, 7, 1)  # 9 px cells, the 2 spare pixels split around the grid
    np.testing.assert_array_equal(layout.centred_origins()[[0, 4, 8]], [[2, 2], [11, 11], [20, 20]])


def crop(image, origin, tile):
    return image[origin[0] : origin[0] + tile, origin[1] : origin[1] + tile]


def test_jigsaw_tile_i_is_the_tile_of_cell_permutation_i():
    images = random_images(batch=4, size=28, channels=3)
    layout = pretext.TileGrid(28, 3, 7, 1)
    permutations = pretext.permutation_set(10, 9, 2)
    key = jax.random.key(5)
    tiles, labels = pretext.jigsaw(key, jnp.asarray(images), permutations, layout)
    origins = np.asarray(pretext.jittered_origins(jax.random.split(key)[1], 4, layout))
    assert tiles.shape == (4, 9, 7, 7, 3) and labels.dtype == jnp.int32
    for b in range(4):
        for i, cell in enumerate(permutations[int(labels[b])]):
            row, col = divmod(int(cell), 3)
            assert (
                abs(origins[b, cell, 0] - (row * 9 + 1)) <= 1
                and abs(origins[b, cell, 1] - (col * 9 + 1)) <= 1
            )
            np.testing.assert_array_equal(tiles[b, i], crop(images[b], origins[b, cell], 7))
    labels_of = lambda seed: pretext.jigsaw(jax.random.key(seed), images, permutations, layout)[1]  # noqa: E731
    assert len(set(np.concatenate([labels_of(seed) for seed in range(8)]).tolist())) > 5


def test_patch_pair_is_the_centre_and_the_neighbour_its_label_names():
    images = random_images(batch=16, size=28, channels=1)
    layout = pretext.TileGrid(28, 3, 6, 0)  # no jitter: every patch at its cell's centre
    patches, labels = pretext.patch_pair(jax.random.key(2), jnp.asarray(images), layout)
    assert patches.shape == (16, 2, 6, 6, 1)
    for b in range(16):
        np.testing.assert_array_equal(patches[b, 0], images[b, 10:16, 10:16])  # cell (1, 1) starts at 9 + 1
        step_row, step_col = NEIGHBOUR_STEPS[int(labels[b])]
        top, left = 10 + 9 * step_row, 10 + 9 * step_col
        np.testing.assert_array_equal(patches[b, 1], images[b, top : top + 6, left : left + 6])
    assert len(set(np.asarray(labels).tolist())) > 4


def test_colour_projection_removes_the_green_magenta_component():
    patches = jnp.asarray(np.random.default_rng(0).random((2, 2, 4, 4, 3), dtype=np.float32))
    projected = pretext.defend_colors(jax.random.key(0), patches, "project")
    np.testing.assert_allclose(np.tensordot(projected, pretext.GREEN_MAGENTA, axes=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.mean(projected, -1), np.mean(patches, -1), atol=1e-6)  # gray is kept
    gray = jnp.ones((1, 1, 4, 4, 1))
    np.testing.assert_array_equal(pretext.defend_colors(jax.random.key(0), gray, "drop"), gray)
    with pytest.raises(ValueError, match="colour defence"):
        pretext.defend_colors(jax.random.key(0), patches, "shift")


def test_colour_dropping_keeps_one_channel_and_whispers_the_others():
    patches = np.random.default_rng(1).random((3, 2, 8, 8, 3), dtype=np.float32)
    dropped = np.asarray(pretext.defend_colors(jax.random.key(4), jnp.asarray(patches), "drop"))
    kept_channels = set()
    for b, t in itertools.product(range(3), range(2)):
        kept = [c for c in range(3) if np.array_equal(dropped[b, t, ..., c], patches[b, t, ..., c])]
        assert len(kept) == 1
        kept_channels.add(kept[0])
        spread = patches[b, t, ..., kept[0]].std()
        for other in set(range(3)) - set(kept):
            np.testing.assert_allclose(
                dropped[b, t, ..., other].mean(), patches[b, t, ..., kept[0]].mean(), atol=0.01
            )
            assert dropped[b, t, ..., other].std() < spread / 50
    assert len(kept_channels) > 1


@pytest.mark.parametrize("module_name", ["jigsaw", "relative_patch"])
@pytest.mark.parametrize("dataset", [name for name in common.DATASETS if name != "folder"])
def test_every_pretext_config_cuts_tiles_that_fit_its_images(module_name, dataset):
    for tiny in ("false", "true"):
        config = importlib.import_module(f"configs.{module_name}").get_config(
            f"dataset={dataset},tiny={tiny}"
        )
        grid = config.method.get("grid", 3)
        layout = pretext.TileGrid(config.data.image_size, grid, config.method.tile_size, config.method.jitter)
        assert layout.tile >= 3 and layout.cell - layout.tile >= 1, "a gap between tiles"


def test_rotnet_scores_all_four_rotations_of_each_image():
    method = micro_method("rotnet")
    variables, inputs = micro_inputs(method, pretext_views())
    (value, aux), grads = jax.value_and_grad(method.loss, has_aux=True)(variables["params"], inputs)
    rotated, labels = pretext.rotations(inputs.views[0])
    outputs = method.network.apply(variables, rotated, train=True, mutable=["batch_stats"])[0]
    expected, top1 = losses.hard_label_cross_entropy(outputs["logits"], labels)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_allclose(aux.metrics["rotation_top1"], top1)
    np.testing.assert_allclose(aux.features, outputs["features"][:8], rtol=1e-6)  # the unrotated rows
    assert_every_part_trains(grads)


def assert_every_part_trains(grads):
    """Backbone and head both get gradient (not every leaf: the residual branches' last BatchNorm scale starts
    at zero, so their convolutions get none in the first step)."""
    assert set(grads) == {"backbone", "head"}
    for part, tree in grads.items():
        assert max(float(jnp.linalg.norm(leaf)) for leaf in jax.tree.leaves(tree)) > 0, part


def pretext_views():
    return augment.VIEW_PRESETS["crop_flip"](16, min_crop_scale=0.5)


@pytest.mark.parametrize(
    ("name", "kwargs", "task"),
    [
        ("jigsaw", dict(num_permutations=24, tile_size=4, jitter=0, head_hidden_dims=(16,)), "jigsaw"),
        ("relative_patch", dict(tile_size=3, jitter=1, head_hidden_dims=(16,)), "relative_patch"),
    ],
)
def test_a_tile_task_classifies_the_tiles_its_transform_cut(name, kwargs, task):
    method = micro_method(name, **kwargs)
    variables, inputs = micro_inputs(method, pretext_views())
    (value, aux), grads = jax.value_and_grad(method.loss, has_aux=True)(variables["params"], inputs)
    layout = pretext.TileGrid(16, 3, kwargs["tile_size"], kwargs["jitter"])
    cut_key = jax.random.split(jax.random.fold_in(inputs.key, TILE_KEY_SALT))[0]
    if name == "jigsaw":
        tiles, labels = pretext.jigsaw(cut_key, inputs.views[0], pretext.permutation_set(24, 9, 2), layout)
    else:
        tiles, labels = pretext.patch_pair(cut_key, inputs.views[0], layout)
    logits = method.network.apply(variables, tiles, train=True, method="classify", mutable=["batch_stats"])[0]
    np.testing.assert_allclose(value, losses.hard_label_cross_entropy(logits, labels)[0], rtol=1e-5)
    assert set(aux.metrics) == {f"{task}_ce", f"{task}_top1"}
    assert aux.features.shape == (8, 16)  # the whole view's backbone features, for the online probe
    assert_every_part_trains(grads)
    assert not jax.tree.all(jax.tree.map(jnp.array_equal, aux.batch_stats, variables["batch_stats"]))


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("jigsaw", dict(num_permutations=24, tile_size=6, jitter=0), "do not fit"),
        ("jigsaw", dict(num_permutations=24, grid=2, tile_size=6, jitter=0, min_distance=5), "distance >= 5"),
        ("relative_patch", dict(tile_size=4, jitter=1), "moves 4 px tiles"),
        ("relative_patch", dict(tile_size=3, jitter=0, colors="rgb"), "colour defence"),
    ],
)
def test_pretext_methods_refuse_bad_sizes_when_made(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        micro_method(name, **kwargs)


def test_a_feature_map_is_pooled_to_the_largest_grid_within_the_budget():
    assert layers.pooled_side(13, 256, 9216) == 6  # AlexNet's conv5 in Zhang et al.'s protocol: 6 x 6 x 256
    assert layers.pooled_side(27, 192, 9216) == 6 and layers.pooled_side(4, 2048, 1000) == 1
    feature_map = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
    pooled = layers.pool_map(feature_map, 12)  # 2 x 2 x 3
    expected = np.asarray(feature_map).reshape(2, 2, 2, 2, 2, 3).mean(axis=(2, 4)).reshape(2, 12)
    np.testing.assert_allclose(pooled, expected)


# sRGB primaries and white in CIE L*a*b* (D65), from the CIE formulas (Lindbloom's calculator gives the same).
KNOWN_LAB = {
    (1.0, 0.0, 0.0): (53.2408, 80.0925, 67.2032),
    (0.0, 1.0, 0.0): (87.7347, -86.1827, 83.1793),
    (0.0, 0.0, 1.0): (32.2970, 79.1875, -107.8602),
    (1.0, 1.0, 1.0): (100.0, 0.0, 0.0),
    (0.0, 0.0, 0.0): (0.0, 0.0, 0.0),
    (0.5, 0.5, 0.5): (53.3890, 0.0, 0.0),
}


def test_rgb_to_lab_gives_the_cie_values_of_known_colours_and_lab_to_rgb_inverts_it():
    rgb = np.array(list(KNOWN_LAB), np.float32)
    np.testing.assert_allclose(augment.rgb_to_lab(rgb), np.array(list(KNOWN_LAB.values())), atol=2e-3)
    colours = np.random.default_rng(0).random((1000, 3), dtype=np.float32)
    np.testing.assert_allclose(augment.lab_to_rgb(augment.rgb_to_lab(colours)), colours, atol=2e-5)
    np.testing.assert_array_equal(
        augment.lab_to_rgb(jnp.array([[50.0, 120.0, -120.0]])).clip(0, 1).shape, (1, 3)
    )
    with pytest.raises(ValueError, match="3 colour channels"):
        augment.rgb_to_lab(np.zeros((2, 1)))


def test_ab_bins_soft_encoding_and_rebalancing_weights():
    bins = pretext.ab_bins()
    assert bins.shape == (261, 2) and np.all(bins % 10 == 0)
    assert {(0.0, 0.0), (80.0, 70.0), (-90.0, 80.0), (80.0, -110.0)} <= set(map(tuple, bins.tolist()))
    ab = jnp.array([[0.0, 0.0], [12.0, -3.0], [80.0, 67.0]])
    encoded = np.asarray(pretext.soft_encode(ab, bins))
    np.testing.assert_allclose(encoded.sum(-1), 1.0, rtol=1e-6)
    assert np.all((encoded > 0).sum(-1) == 5)
    # A value on a bin centre: that bin and its 4 axis neighbours at distance 10, weights 1 : e^(-2) each.
    centre = encoded[0][np.argmin(np.abs(bins).sum(1))]
    np.testing.assert_allclose(centre, 1.0 / (1.0 + 4.0 * np.exp(-100.0 / 50.0)), rtol=1e-5)
    uniform = pretext.rebalancing_weights(jnp.ones(len(bins)), bins)
    np.testing.assert_allclose(uniform, 1.0, rtol=1e-4)
    prior = np.full(len(bins), 1e-3)
    prior[0] = 1.0  # one common colour
    weights = np.asarray(pretext.rebalancing_weights(jnp.asarray(prior), bins))
    distances = ((bins[:, None] - bins[None]) ** 2).sum(-1)
    kernel = np.exp(-distances / 50.0)
    smoothed = (kernel / kernel.sum(1, keepdims=True)) @ (prior / prior.sum())
    smoothed /= smoothed.sum()
    expected = 1.0 / (0.5 * smoothed + 0.5 / len(bins))
    np.testing.assert_allclose(weights, expected / (smoothed * expected).sum(), rtol=1e-4)
    assert weights[0] == weights.min() and np.isclose((smoothed * weights).sum(), 1.0, rtol=1e-5)
    probabilities = jax.nn.softmax(jnp.asarray(np.random.default_rng(0).normal(size=(4, len(bins)))))
    np.testing.assert_allclose(  # T -> 1: the plain mean; the annealed mean of a one-hot is its bin
        pretext.annealed_mean(probabilities, bins, 1.0), probabilities @ bins, rtol=1e-4, atol=1e-3
    )
    np.testing.assert_allclose(
        pretext.annealed_mean(jax.nn.one_hot(jnp.array([7]), len(bins)), bins), bins[7:8], atol=1e-3
    )


def colour_method(**kwargs):
    context = MethodContext(
        backbone=models.make_backbone("resnet_micro"),
        image_mean=(0.5, 0.5, 0.5),
        image_std=(0.25, 0.25, 0.25),
        dtype=jnp.float32,
        num_examples=32,
        global_batch=8,
        image_size=16,
    )
    return METHODS["colorization"](context, **kwargs)


def test_colorization_scores_the_rebalanced_ab_distribution_from_lightness_and_tracks_its_prior():
    method = colour_method()
    images = jax.random.uniform(jax.random.key(0), (8, 16, 16, 3))
    variables = method.network.init(jax.random.key(1), images, train=True)
    stem = variables["params"]["backbone"]["stem_conv"]["kernel"]
    assert stem.shape[2] == 1, "the backbone sees the lightness channel only"
    prior = method.init_extra(None)["ab_prior"]
    inputs = LossInputs(
        batch_stats=variables["batch_stats"],
        target={},
        extra={"ab_prior": prior},
        views=[images],
        indices=jnp.arange(8),
        labels=jnp.full((8,), -1),
        step=jnp.asarray(0),
        key=jax.random.key(2),
    )
    (value, aux), grads = jax.value_and_grad(method.loss, has_aux=True)(variables["params"], inputs)
    logits = method.network.apply(
        variables, images, train=True, method="dense_logits", mutable=["batch_stats"]
    )[0]
    assert logits.shape == (8, 8, 8, 261)  # the micro ResNet's last map is 8 x 8
    ab = np.asarray(augment.rgb_to_lab(images))[..., 1:].reshape(8, 8, 2, 8, 2, 2).mean(axis=(2, 4))
    targets = pretext.soft_encode(jnp.asarray(ab), pretext.ab_bins())
    # A uniform prior gives unit weights: the plain soft cross-entropy.
    expected = -np.mean(np.sum(np.asarray(targets) * np.asarray(jax.nn.log_softmax(logits)), axis=-1))
    np.testing.assert_allclose(value, expected, rtol=1e-4)
    np.testing.assert_allclose(
        aux.extra["ab_prior"], 0.99 * prior + 0.01 * np.asarray(targets).mean(axis=(0, 1, 2)), rtol=1e-5
    )
    np.testing.assert_allclose(
        aux.features,
        method.network.apply(  # in inference mode, with the step's updated statistics
            {"params": variables["params"], "batch_stats": aux.batch_stats},
            images,
            train=False,
            method="features",
        ),
        rtol=1e-5,
        atol=1e-6,
    )
    assert set(grads) == {"backbone", "head"}
    rows = method.reconstruct(variables, images, None)
    assert sorted(rows) == ["lightness", "prediction"] and rows["prediction"].shape == images.shape
    gray = np.asarray(rows["lightness"])
    np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=2e-3)  # a = b = 0 is gray
    lightness = np.asarray(augment.rgb_to_lab(images))[..., 0]
    np.testing.assert_allclose(np.asarray(augment.rgb_to_lab(gray))[..., 0], lightness, atol=0.05)
    # Colours outside the sRGB gamut are clipped, which moves their lightness; most keep it.
    shift = np.abs(np.asarray(augment.rgb_to_lab(rows["prediction"]))[..., 0] - lightness)
    assert np.median(shift) < 1.0


def test_a_rebalanced_loss_weighs_rare_colours_up():
    targets = jax.nn.one_hot(jnp.array([[0, 0, 0, 1]]), 2)
    logits = jnp.zeros((1, 4, 2))
    flat = losses.rebalanced_cross_entropy(logits, targets, jnp.ones(2))
    np.testing.assert_allclose(flat, np.log(2.0), rtol=1e-6)
    np.testing.assert_allclose(
        losses.rebalanced_cross_entropy(logits, targets, jnp.array([0.5, 2.5])),
        np.log(2.0) * (3 * 0.5 + 2.5) / 4,
    )


def test_colorization_refuses_a_grayscale_dataset():
    with pytest.raises(ValueError, match="needs RGB images; this dataset has 1 channel"):
        micro_method("colorization")


def test_context_encoder_masks_a_square_and_scores_only_inside_it():
    masks = np.asarray(context_encoder.region_masks(jax.random.key(0), 3, 16, 8, "center"))
    np.testing.assert_array_equal(masks[0, 4:12, 4:12], 1.0)
    assert masks.sum() == 3 * 64
    random = np.asarray(context_encoder.region_masks(jax.random.key(0), 8, 16, 5, "random"))
    assert np.all(random.sum(axis=(1, 2)) == 25) and len({tuple(np.argwhere(m)[0]) for m in random}) > 1
    method = micro_method("context_encoder", decoder_width=16)
    variables, inputs = micro_inputs(method, pretext_views())
    (value, aux), grads = jax.value_and_grad(method.loss, has_aux=True)(variables["params"], inputs)
    images = inputs.views[0]
    square = jnp.asarray(masks[:1].repeat(8, axis=0))
    corrupted = jnp.where(square[..., None] > 0, 0.5, images)  # the micro context's mean colour
    rebuilt = method.network.apply(
        variables, corrupted, train=True, method="reconstruct", mutable=["batch_stats"]
    )[0]
    clean = (np.asarray(images) - 0.5) / 0.25
    inside = np.asarray(square, bool)
    np.testing.assert_allclose(value, np.mean((np.asarray(rebuilt) - clean)[inside] ** 2), rtol=1e-5)
    assert set(grads) == {"backbone", "decoder"} and aux.features.shape == (8, 16)
    rows = method.reconstruct(variables, images, inputs.key)
    np.testing.assert_array_equal(np.asarray(rows["reconstruction"])[~inside], np.asarray(images)[~inside])


def test_the_adversarial_term_trains_the_critic_and_the_generator_apart():
    method = micro_method("context_encoder", decoder_width=16, adversarial_weight=0.001)
    variables, inputs = micro_inputs(method, pretext_views())
    (value, aux), grads = jax.value_and_grad(method.loss, has_aux=True)(variables["params"], inputs)
    metrics = {name: float(aux.metrics[name]) for name in ("reconstruction", "critic", "generator")}
    np.testing.assert_allclose(
        value, 0.999 * metrics["reconstruction"] + 0.001 * metrics["generator"] + metrics["critic"], rtol=1e-5
    )
    assert set(grads) == {"backbone", "decoder", "discriminator"}
    # The critic's gradient is its own loss's alone: the generator term reaches it under stop-gradient.
    critic_only = jax.grad(
        lambda d: losses.adversarial_terms(
            *(
                method.network.apply(
                    {"params": {**variables["params"], "discriminator": d}}, x, method="discriminate"
                )
                for x in critic_inputs(method, variables, inputs)
            ),
            jnp.zeros(8),
        )[0]
    )(variables["params"]["discriminator"])
    for got, expected in zip(
        jax.tree.leaves(grads["discriminator"]), jax.tree.leaves(critic_only), strict=True
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)


def critic_inputs(method, variables, inputs):
    """The clean view and the view with its square filled by the reconstruction, as the loss builds them."""
    images = inputs.views[0]
    square = context_encoder.region_masks(None, 8, 16, 8, "center")
    corrupted = jnp.where(square[..., None] > 0, 0.5, images)
    rebuilt = method.network.apply(
        variables, corrupted, train=True, method="reconstruct", mutable=["batch_stats"]
    )[0]
    clean = (images - 0.5) / 0.25
    return clean, jnp.where(square[..., None] > 0, rebuilt, clean)


def test_the_denoising_autoencoder_rebuilds_the_whole_image_from_masking_noise():
    method = micro_method("denoising_autoencoder", decoder_width=16, noise_level=0.5)
    variables, inputs = micro_inputs(method, pretext_views())
    value, aux = method.loss(variables["params"], inputs)
    rows = method.reconstruct(variables, inputs.views[0], jax.random.key(0))
    dropped = np.asarray(rows["masked"]) == 0
    assert 0.4 < dropped.mean() < 0.6 and np.isfinite(float(value))
    assert rows["reconstruction"].shape == inputs.views[0].shape


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("context_encoder", dict(region_fraction=1.0), "leave a region and a context"),
        ("context_encoder", dict(region="ring"), "unknown region"),
        ("denoising_autoencoder", dict(noise_level=1.0), "noise_level"),
        ("denoising_autoencoder", dict(corruption="blur"), "unknown corruption"),
    ],
)
def test_reconstruction_tasks_refuse_what_they_cannot_corrupt(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        micro_method(name, **kwargs)


def test_the_patch_grid_cuts_overlapping_patches_row_by_row():
    images = random_images(batch=2, size=16, channels=3)
    grid = np.asarray(cpc.patch_grid(jnp.asarray(images), 8, 4))
    assert grid.shape == (2, 3, 3, 8, 8, 3)
    for b, i, j in itertools.product(range(2), range(3), range(3)):
        np.testing.assert_array_equal(grid[b, i, j], images[b, 4 * i : 4 * i + 8, 4 * j : 4 * j + 8])
    with pytest.raises(ValueError, match="do not tile"):
        cpc.grid_side(28, 8, 6)


def test_the_context_of_a_row_never_sees_the_rows_below_it():
    network = cpc.ContextNetwork(width=8, depth=2)
    vectors = jax.random.normal(jax.random.key(0), (1, 6, 6, 4))
    params = network.init(jax.random.key(1), vectors)
    # d context[row 2] / d vectors: zero on rows 3..5, not on rows 0..2.
    jacobian = jax.grad(lambda v: jnp.sum(network.apply(params, v)[0, 2]))(vectors)
    row_norms = np.abs(np.asarray(jacobian)).sum(axis=(0, 2, 3))
    assert np.all(row_norms[3:] == 0) and np.all(row_norms[:3] > 0)


def numpy_cpc(predictions, vectors):
    batch, grid, _, offsets, dim = predictions.shape
    candidates = vectors.reshape(-1, dim)
    losses_ = []
    for b, i, j, k in itertools.product(range(batch), range(grid), range(grid), range(1, offsets + 1)):
        if i + k >= grid:
            continue
        logits = candidates @ predictions[b, i, j, k - 1]
        target = (b * grid + i + k) * grid + j
        losses_.append(np.log(np.sum(np.exp(logits - logits.max()))) + logits.max() - logits[target])
    return np.mean(losses_)


def test_cpc_info_nce_against_numpy_and_on_1_and_8_devices():
    rng = np.random.default_rng(0)
    predictions = rng.normal(size=(8, 4, 4, 2, 5)).astype(np.float32)
    vectors = rng.normal(size=(8, 4, 4, 5)).astype(np.float32)
    one = jax.jit(losses.cpc_info_nce)(predictions, vectors)
    np.testing.assert_allclose(one, numpy_cpc(predictions, vectors), rtol=1e-5)
    split = NamedSharding(sharding.make_mesh(8), PartitionSpec(sharding.DATA_AXIS))
    eight = jax.jit(losses.cpc_info_nce)(jax.device_put(predictions, split), jax.device_put(vectors, split))
    np.testing.assert_allclose(eight, one, rtol=1e-6)


def test_cpc_v2_refuses_batchnorm_and_offsets_past_its_grid():
    with pytest.raises(ValueError, match="BatchNorm would share statistics"):
        micro_method("cpc_v2", patch=8, stride=4, num_offsets=1, context_width=8, context_depth=1)
    with pytest.raises(ValueError, match="num_offsets must be in"):
        micro_method(
            "cpc_v2", backbone_options=dict(norm="layer"), patch=8, stride=4, num_offsets=3, context_width=8
        )
