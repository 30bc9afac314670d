"""ViT backbones and the masked image modelling networks: parameter counts, names, shapes, options."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxssl import masking, models
from jaxssl.models import layers, mae, transformer, vit

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def count(tree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def abstract_params(model, size: int):
    """Parameter shapes without compiling anything."""
    images = jnp.zeros((1, size, size, 3))
    return jax.eval_shape(lambda: model.init(jax.random.key(0), images, train=False))["params"]


def images(seed: int, batch: int = 2, size: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(batch, size, size, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def micro():
    model = vit.vit("micro")
    return model, model.init(jax.random.key(0), images(0), train=False)


# timm's vit_{tiny,small,base}_patch16_224 with their 1000-class head (Linear(D, 1000): 1000 * (D + 1)
# parameters) removed. Totals: ViT-B/16 86,567,656 is torchvision's published `num_params` for vit_b_16,
# the same architecture (timm's model card: 86.6 M); ViT-S/16 (= DeiT-S) 22,050,664 as measured in
# published DeiT-S comparisons (timm's card: 22.1 M); ViT-Ti/16 5,717,416 (timm's card: 5.7 M). Each
# also equals the closed form 769 D (patch Conv 3*16*16*D + D) + D (cls) + 197 D (positions)
# + 12 (12 D^2 + 13 D) (blocks) + 2 D (final norm) + 1000 (D + 1), worked out by hand for D = 192/384/768.
@pytest.mark.parametrize(
    "size, timm_total, dim",
    [("tiny", 5_717_416, 192), ("small", 22_050_664, 384), ("base", 86_567_656, 768)],
)
def test_parameter_counts_match_timm_without_head(size, timm_total, dim):
    assert count(abstract_params(vit.vit(size), 224)) == timm_total - 1000 * (dim + 1)


def test_timm_parameter_names_and_shapes():
    params = abstract_params(vit.vit("micro"), 16)
    assert set(params) == {"patch_embed", "cls_token", "pos_embed", "blocks_0", "blocks_1", "norm"}
    assert params["patch_embed"]["proj"]["kernel"].shape == (4, 4, 3, 32)
    assert params["cls_token"].shape == (1, 1, 32)
    assert params["pos_embed"].shape == (1, 1 + 16, 32)
    block = params["blocks_1"]
    assert set(block) == {"norm1", "attn", "norm2", "mlp"}
    assert block["attn"]["qkv"]["kernel"].shape == (32, 96)
    assert block["attn"]["proj"]["kernel"].shape == (32, 32)
    assert block["mlp"]["fc1"]["kernel"].shape == (32, 128)
    assert block["mlp"]["fc2"]["kernel"].shape == (128, 32)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))


def test_sincos_positions_are_a_constant_not_a_parameter():
    model = vit.vit("micro", pos_embed="sincos")
    variables = model.init(jax.random.key(0), images(0), train=False)
    assert "pos_embed" not in variables["params"]
    positions = model.apply(variables, 16, method=model.position)
    np.testing.assert_allclose(positions[0], transformer.sincos_2d(32, (4, 4)), atol=1e-6)
    # Patch (row 1, column 2): the first half of the channels encodes the column, the second the row.
    omega = 1.0 / 10000.0 ** (np.arange(8) / 8)
    expected = np.concatenate([np.sin(2 * omega), np.cos(2 * omega), np.sin(omega), np.cos(omega)])
    np.testing.assert_allclose(positions[0, 1 * 4 + 2], expected, atol=1e-6)


def test_output_embed_and_encode_shapes(micro):
    model, variables = micro
    x = images(1)
    assert model.num_features == 32
    out = model.apply(variables, x, train=False)
    assert out.shape == (2, 32) and out.dtype == jnp.float32
    assert model.apply(variables, x, method=model.patch_tokens).shape == (2, 16, 32)
    tokens = model.apply(variables, x, method=model.embed)
    assert tokens.shape == (2, 16, 32)
    assert model.apply(variables, tokens[:, :5], False, method=model.encode).shape == (2, 6, 32)


def test_cls_and_mean_pooling(micro):
    model, variables = micro
    x = images(2)
    tokens = model.apply(variables, x, method=model.embed)
    encoded = model.apply(variables, tokens, False, method=model.encode)
    mean_model = vit.vit("micro", pool="mean")
    cls_out = model.apply(variables, x, train=False)
    mean_out = mean_model.apply(variables, x, train=False)  # the pool has no parameters of its own
    np.testing.assert_allclose(cls_out, encoded[:, 0], rtol=1e-6)
    np.testing.assert_allclose(mean_out, encoded[:, 1:].mean(axis=1), rtol=1e-5, atol=1e-6)
    assert not np.allclose(cls_out, mean_out)


def test_feature_maps_per_block_last_one_after_the_norm(micro):
    model, variables = micro
    x = images(3)
    maps = model.apply(variables, x, False, method=model.feature_maps)
    assert list(maps) == ["block0", "block1"]
    assert all(m.shape == (2, 4, 4, 32) for m in maps.values())
    tokens = model.apply(variables, x, method=model.embed)
    encoded = model.apply(variables, tokens, False, method=model.encode)
    np.testing.assert_allclose(maps["block1"], encoded[:, 1:].reshape(2, 4, 4, 32), rtol=1e-5, atol=1e-6)


def test_positions_for_other_grids_are_the_stored_grid_resized(micro):
    model, variables = micro
    stored = variables["params"]["pos_embed"]
    same = model.apply(variables, 16, method=model.position)
    np.testing.assert_array_equal(same, stored[:, 1:])
    small = model.apply(variables, 4, method=model.position)
    grid = stored[:, 1:].reshape(1, 4, 4, 32)
    expected = jax.image.resize(grid, (1, 2, 2, 32), "bicubic", antialias=False).reshape(1, 4, 32)
    np.testing.assert_allclose(small, expected, rtol=1e-6)
    assert model.apply(variables, (2, 3), method=model.position).shape == (1, 6, 32)
    # A model initialised on 16 px images applies to 8 px crops (DINO's small crops) and their feature maps.
    crops = images(4, size=8)
    assert model.apply(variables, crops, train=False).shape == (2, 32)
    assert model.apply(variables, crops, False, method=model.feature_maps)["block1"].shape == (2, 2, 2, 32)
    with pytest.raises(ValueError, match="square"):
        model.apply(variables, 6, method=model.position)


def test_drop_path_needs_train_and_a_dropout_rng():
    model = vit.vit("micro", drop_path=0.5)
    assert layers.drop_path_rates(0.5, 3) == [0.0, 0.25, 0.5]
    x = images(5, batch=8)
    variables = model.init(jax.random.key(0), x, train=True)  # one key: no dropout stream needed
    apply = jax.jit(lambda v, x, key: model.apply(v, x, train=True, rngs={"dropout": key}))
    evaluation = model.apply(variables, x, train=False)
    np.testing.assert_array_equal(model.apply(variables, x, train=True), evaluation)
    first, second = apply(variables, x, jax.random.key(1)), apply(variables, x, jax.random.key(2))
    assert not np.allclose(first, evaluation) and not np.allclose(first, second)
    np.testing.assert_array_equal(apply(variables, x, jax.random.key(1)), first)


def test_bfloat16_compute_keeps_float32_parameters_and_output():
    model = vit.vit("micro", dtype=jnp.bfloat16)
    variables = model.init(jax.random.key(0), images(0), train=False)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables))
    assert model.apply(variables, images(1), train=False).dtype == jnp.float32


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(pool="max"), "unknown pool"),
        (dict(pos_embed="rope"), "unknown pos_embed"),
        (dict(image_size=18), "does not divide"),
        (dict(patch_size=0), "positive int"),
        (dict(drop_path=1.0), "drop_path"),
    ],
)
def test_bad_options_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vit.vit("micro", **kwargs)


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="divisible by heads"):
        vit.ViT(16, 4, dim=30, depth=1, heads=4)
    with pytest.raises(ValueError, match="divisible by 4"):
        vit.ViT(16, 4, dim=30, depth=1, heads=3, pos_embed="sincos")
    with pytest.raises(ValueError, match="depth"):
        vit.ViT(16, 4, dim=32, depth=0, heads=2)
    with pytest.raises(ValueError, match="unknown ViT size 'huge'"):
        vit.vit("huge")


@pytest.mark.parametrize("size", sorted(vit.SIZES))
def test_each_registered_vit_is_its_size_with_the_family_options(size):
    builder = models.BACKBONES[f"vit_{size}"]
    options = ["image_size", "patch_size", "pool", "drop_path", "pos_embed", "dtype"]
    assert list(inspect.signature(builder).parameters) == options
    model = builder(image_size=32, patch_size=8)
    dim, depth, heads, _, _ = vit.SIZES[size]
    assert (model.image_size, model.patch_size, model.dim, model.depth, model.heads) == (
        32,
        8,
        dim,
        depth,
        heads,
    )


def mae_network():
    return mae.MAENetwork(vit.vit("micro"), 16, 1, 2, MEAN, STD)


def test_mae_network_init_on_a_full_image_creates_every_parameter():
    network = mae_network()
    variables = network.init(jax.random.key(0), images(0), train=False)
    params = variables["params"]
    assert set(params) == {"backbone", "decoder"}
    assert set(params["decoder"]) == {"embed", "mask_token", "blocks_0", "norm", "pred"}
    assert params["decoder"]["mask_token"].shape == (1, 1, 16)
    assert params["decoder"]["pred"]["kernel"].shape == (16, 4 * 4 * 3)
    assert set(params["backbone"]) == set(abstract_params(vit.vit("micro"), 16))
    features = network.apply(variables, images(1), False, method=network.features)
    assert features.shape == (2, 32) and features.dtype == jnp.float32


def test_mae_decoder_fed_a_masked_subset():
    network = mae_network()
    variables = network.init(jax.random.key(0), images(0), train=False)
    keep = masking.keep_count(16, 0.75)
    ids_keep, ids_restore, mask = masking.random_masking(jax.random.key(3), 2, 16, keep)
    apply = jax.jit(lambda x: network.apply(variables, x, True, ids_keep, ids_restore))
    x = images(6)
    out = apply(x)
    assert out["pred"].shape == (2, 16, 48) and out["pred"].dtype == jnp.float32
    assert out["features"].shape == (2, 32)
    # The encoder sees only the visible patches: changing the masked pixels moves no feature.
    masked_pixels = np.asarray(masking.unpatchify(mask[:, :, None] * jnp.ones((1, 1, 48)), 4, 3))
    same = apply(x * (1 - masked_pixels) + 0.25 * masked_pixels)
    np.testing.assert_allclose(same["features"], out["features"], rtol=1e-5, atol=1e-6)
    changed = apply(x * masked_pixels + 0.25 * (1 - masked_pixels))
    assert not np.allclose(changed["features"], out["features"])
    with pytest.raises(ValueError, match="both"):
        network.apply(variables, x, False, ids_keep, None)


def test_simmim_network_shapes_and_mask_token():
    network = mae.SimMIMNetwork(vit.vit("micro"), MEAN, STD)
    variables = network.init(jax.random.key(0), images(0), train=False)
    assert set(variables["params"]) == {"backbone", "mask_token", "head"}
    assert variables["params"]["head"]["kernel"].shape == (32, 48)
    mask = masking.block_mask(jax.random.key(4), 2, 16, 4, 8, 0.5)
    apply = jax.jit(lambda x, m: network.apply(variables, x, True, m))
    x = images(7)
    out = apply(x, mask)
    assert out["pred"].shape == (2, 16, 48) and out["features"].shape == (2, 32)
    # Masked patches are replaced by the mask token: their pixels do not reach the encoder.
    masked_pixels = np.asarray(masking.unpatchify(mask[:, :, None] * jnp.ones((1, 1, 48)), 4, 3))
    other = apply(x * (1 - masked_pixels) + 0.3 * masked_pixels, mask)
    np.testing.assert_allclose(other["pred"], out["pred"], rtol=1e-5, atol=1e-6)
    unmasked = network.apply(variables, x, True)
    np.testing.assert_allclose(apply(x, jnp.zeros((2, 16)))["pred"], unmasked["pred"], rtol=1e-5, atol=1e-6)
    assert network.apply(variables, x, False, method=network.features).shape == (2, 32)
