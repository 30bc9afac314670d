"""Optimizers, schedules, the EMA target and the online probe's isolation."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxssl import ema, optim, schedules, step


def params():
    return {
        "conv": {"kernel": jnp.ones((3, 3, 2, 4))},
        "bn": {"scale": jnp.ones(4), "bias": jnp.zeros(4)},
        "dense": {"kernel": jnp.ones((4, 2)), "bias": jnp.zeros(2)},
    }


def test_decay_mask_keeps_kernels_and_excludes_biases_and_norm_parameters():
    mask = optim.decay_mask(params())
    assert mask == {
        "conv": {"kernel": True},
        "bn": {"scale": False, "bias": False},
        "dense": {"kernel": True, "bias": False},
    }


def test_lars_adapts_kernels_only_and_decays_kernels_only():
    p = params()
    grads = jax.tree.map(jnp.ones_like, p)
    lr, weight_decay = 0.1, 0.5
    tx = optim.make_optimizer("lars", lr, weight_decay=weight_decay, momentum=0.0, trust_coefficient=0.01)
    updates, _ = tx.update(grads, tx.init(p), p)
    # Excluded leaves: a plain SGD step, -lr * g.
    np.testing.assert_allclose(updates["bn"]["scale"], -lr * np.ones(4), rtol=1e-6)
    np.testing.assert_allclose(updates["dense"]["bias"], -lr * np.ones(2), rtol=1e-6)
    # Kernels: g + wd * w, scaled by the trust ratio eta * ||w|| / ||g + wd * w|| (You et al. 2017).
    w, g = np.ones((4, 2)), np.ones((4, 2)) + weight_decay * np.ones((4, 2))
    expected = -lr * 0.01 * np.linalg.norm(w) / np.linalg.norm(g) * g
    np.testing.assert_allclose(updates["dense"]["kernel"], expected, rtol=1e-5)


@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_every_optimizer_descends_a_quadratic(name):
    p = {"w": jnp.full((3, 3), 2.0)}
    tx = optim.make_optimizer(name, 0.05, weight_decay=0.0, trust_coefficient=0.5)
    state = tx.init(p)
    loss = lambda q: jnp.sum(q["w"] ** 2)
    before = loss(p)
    for _ in range(5):
        updates, state = tx.update(jax.grad(loss)(p), state, p)
        p = optax.apply_updates(p, updates)
    assert loss(p) < before


def test_unknown_optimizer_names_the_choices():
    with pytest.raises(ValueError, match="lars"):
        optim.make_optimizer("lamb", 0.1, weight_decay=0.0)


def test_ema_update_and_byol_cosine_tau():
    target, online = {"w": jnp.zeros(3)}, {"w": jnp.ones(3)}
    np.testing.assert_allclose(ema.update(target, online, 0.9)["w"], 0.1 * np.ones(3), rtol=1e-6)
    np.testing.assert_allclose(ema.cosine_tau(0, 100, 0.99), 0.99, rtol=1e-6)
    np.testing.assert_allclose(ema.cosine_tau(50, 100, 0.99), 0.995, rtol=1e-6)
    np.testing.assert_allclose(ema.cosine_tau(100, 100, 0.99), 1.0, rtol=1e-6)


def test_learning_rate_scaling_and_warmup_cosine():
    assert schedules.scaled_learning_rate(0.3, 4096, "linear") == pytest.approx(4.8)
    assert schedules.scaled_learning_rate(0.075, 4096, "sqrt") == pytest.approx(4.8)
    assert schedules.scaled_learning_rate(1.0, 512, "none") == 1.0
    with pytest.raises(ValueError, match="lr scaling"):
        schedules.scaled_learning_rate(1.0, 512, "cubic")
    schedule = schedules.warmup_cosine(2.0, total_steps=100, warmup_steps=10)
    np.testing.assert_allclose(
        [schedule(0), schedule(5), schedule(10), schedule(100)], [0.0, 1.0, 2.0, 0.0], atol=1e-6
    )
    assert schedule(55) == pytest.approx(1.0, abs=1e-3)  # half-way through the cosine
    no_warmup = schedules.warmup_cosine(2.0, total_steps=100, warmup_steps=0)
    assert no_warmup(0) == pytest.approx(2.0)


def test_online_probe_gradient_never_reaches_the_features():
    import flax.linen as nn

    probe = nn.Dense(3)
    features = jnp.arange(8.0).reshape(2, 4)
    probe_params = probe.init(jax.random.key(0), features)["params"]
    labels = jnp.array([0, -1])  # the unlabelled example is left out
    grad = jax.grad(lambda f: step.probe_loss(probe, probe_params, f, labels)[0])(features)
    assert np.all(np.asarray(grad) == 0)
    loss, top1 = step.probe_loss(probe, probe_params, features, labels)
    logits = probe.apply({"params": probe_params}, features[:1])
    np.testing.assert_allclose(
        loss, optax.softmax_cross_entropy_with_integer_labels(logits, labels[:1])[0], rtol=1e-6
    )
    assert float(top1) in (0.0, 1.0)


def test_a_masked_optimizer_changes_nothing_for_its_first_steps_then_runs_from_a_fresh_state():
    p = params()
    lars = optim.make_optimizer("lars", 0.5, weight_decay=1e-3, trust_coefficient=0.02)
    masked = optim.after_steps(lars, 2)
    zero = jax.tree.map(jnp.zeros_like, p)  # the memory-filling epoch: zero gradients, weight decay only
    state = masked.init(p)
    for _ in range(2):
        updates, state = masked.update(zero, state, p)
        assert all(float(jnp.abs(u).max()) == 0.0 for u in jax.tree.leaves(updates))
    grads = jax.tree.map(lambda x: 0.1 * jnp.ones_like(x), p)
    updates, _ = masked.update(grads, state, p)
    expected, _ = lars.update(grads, lars.init(p), p)
    for got, want in zip(jax.tree.leaves(updates), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_hold_freezes_the_params_under_a_path_for_their_steps_only():
    p = {**params(), "conv2": {"kernel": jnp.ones((3, 3, 2, 4))}}
    sgd = optim.make_optimizer("sgd", 0.1, weight_decay=1e-2)
    optimizer = optim.hold(sgd, (("conv", 2), ("dense/kernel", 1)))
    grads = jax.tree.map(jnp.ones_like, p)
    state = optimizer.init(p)
    moved = []
    for _ in range(3):
        updates, state = optimizer.update(grads, state, p)
        moved.append(
            {
                optim.path_name(path): bool(jnp.any(u != 0))
                for path, u in jax.tree_util.tree_leaves_with_path(updates)
            }
        )
    assert [m["conv/kernel"] for m in moved] == [False, False, True]
    assert [m["dense/kernel"] for m in moved] == [False, True, True]
    assert all(
        m["conv2/kernel"] and m["dense/bias"] and m["bn/scale"] for m in moved
    )  # "conv" is not "conv2"
    everything = optim.hold(sgd, (("", 1),))
    updates, _ = everything.update(grads, everything.init(p), p)
    assert all(float(jnp.abs(u).max()) == 0.0 for u in jax.tree.leaves(updates))


def test_a_method_frozen_layer_is_held_inside_the_run_optimizer_with_its_probe():
    """The composition train runs: hold under with_probe, whose multi_transform hands the model optimizer the
    whole {"model", "probe"} tree. (Without root="model" the prefixes matched nothing and DINO's last layer,
    SwAV's prototypes and MoCo v3's patch projection were updated from the first step.)"""
    p = {
        "model": {"projector": {"last_layer": jnp.ones((2, 3)), "hidden": jnp.ones((2, 2))}},
        "probe": {"k": jnp.ones(2)},
    }
    adamw = optim.make_optimizer("adamw", 0.1, weight_decay=0.1)
    optimizer = optim.with_probe(optim.hold(adamw, (("projector/last_layer", 2),), root="model"), 1e-3)
    grads = jax.tree.map(jnp.ones_like, p)
    state = optimizer.init(p)
    moved = []
    for _ in range(3):
        updates, state = optimizer.update(grads, state, p)
        moved.append(bool(jnp.any(updates["model"]["projector"]["last_layer"] != 0)))
        assert bool(jnp.all(updates["model"]["projector"]["hidden"] != 0))
        assert bool(jnp.all(updates["probe"]["k"] != 0))
    assert moved == [False, False, True]


def test_no_decay_reaches_positions_tokens_norms_or_biases():
    p = {
        "backbone": {
            "pos_embed": jnp.ones((1, 5, 4)),
            "cls_token": jnp.ones((1, 1, 4)),
            "blocks_0": {"attn": {"qkv": {"kernel": jnp.ones((4, 12)), "bias": jnp.ones(12)}}},
            "norm": {"scale": jnp.ones(4)},
        },
        "decoder": {"mask_token": jnp.ones((1, 1, 4))},
    }
    mask = optim.decay_mask(p)
    assert mask["backbone"]["blocks_0"]["attn"]["qkv"] == {"kernel": True, "bias": False}
    assert not any(
        [mask["backbone"]["pos_embed"], mask["backbone"]["cls_token"], mask["decoder"]["mask_token"]]
    )
    assert mask["backbone"]["norm"]["scale"] is False


def test_layer_decay_scales_the_lr_of_each_vit_block_by_its_depth():
    """BEiT / MAE: scale = decay ** (depth + 1 - layer id); the embedding is layer 0, block i layer i + 1, the
    final norm and the head depth + 1."""
    p = {
        "network": {
            "backbone": {
                "patch_embed": {"proj": {"kernel": jnp.ones((2, 2, 1, 4))}},
                "pos_embed": jnp.ones((1, 5, 4)),
                "blocks_0": {"mlp": {"fc1": {"kernel": jnp.ones((4, 8))}}},
                "blocks_1": {"mlp": {"fc1": {"kernel": jnp.ones((4, 8))}}},
                "norm": {"scale": jnp.ones(4)},
            }
        },
        "head": {"kernel": jnp.ones((4, 3))},
    }
    scales = optim.layer_decay_scales(p, 0.5)
    backbone = scales["network"]["backbone"]
    assert backbone["patch_embed"]["proj"]["kernel"] == backbone["pos_embed"] == 0.125
    assert backbone["blocks_0"]["mlp"]["fc1"]["kernel"] == 0.25
    assert backbone["blocks_1"]["mlp"]["fc1"]["kernel"] == 0.5
    assert backbone["norm"]["scale"] == scales["head"]["kernel"] == 1.0
    adamw = optax.chain(optim.make_optimizer("adamw", 0.1, weight_decay=0.0), optim.scale_by_layer(scales))
    updates, _ = adamw.update(jax.tree.map(jnp.ones_like, p), adamw.init(p), p)
    np.testing.assert_allclose(
        updates["network"]["backbone"]["blocks_0"]["mlp"]["fc1"]["kernel"], -0.025, rtol=1e-4
    )
    with pytest.raises(ValueError, match="transformer blocks"):
        optim.layer_decay_scales({"conv": {"kernel": jnp.ones((3, 3))}}, 0.5)
