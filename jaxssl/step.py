"""The jitted functions: one training step for any method, and the embedding used by evaluation."""

import dataclasses
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxssl import augment, ema
from jaxssl.augment import crops
from jaxssl.methods.method import LossInputs, Method
from jaxssl.state import TrainState

# View v is augmented with fold_in(step key, v); the loss's own draws use this salt, far above any view count.
LOSS_KEY_SALT = 1 << 20


def probe_loss(probe: nn.Module, probe_params, features, labels):
    """Cross-entropy of the online linear probe on stop-gradient features; unlabelled examples (label < 0)
    are left out. Returns (loss, top-1 accuracy on the labelled examples)."""
    logits = probe.apply({"params": probe_params}, jax.lax.stop_gradient(features))
    labelled = labels >= 0
    safe_labels = jnp.where(labelled, labels, 0)
    per_example = optax.softmax_cross_entropy_with_integer_labels(logits, safe_labels)
    count = jnp.maximum(jnp.sum(labelled), 1)
    loss = jnp.sum(jnp.where(labelled, per_example, 0.0)) / count
    correct = jnp.sum(jnp.where(labelled, jnp.argmax(logits, -1) == labels, False))
    return loss, correct / count


def pseudo_label_top1(pseudo_labels, true_labels) -> jax.Array:
    """The fraction of the pseudo-labelled rows (pseudo_labels >= 0) whose pseudo-label is their hidden
    label; NaN when no row was pseudo-labelled (no accuracy yet: a logged mean over steps that include such a
    step is NaN too, and draws no point in the report's curves)."""
    labelled = pseudo_labels >= 0
    count = jnp.sum(labelled)
    correct = jnp.sum(labelled & (pseudo_labels == true_labels))
    return jnp.where(count > 0, correct / jnp.maximum(count, 1), jnp.nan)


def last_feature_map(network: nn.Module, state: TrainState, images) -> jax.Array:
    """The online network's last feature map (eval mode) of images (B, S, S, C) in [0, 1]: ContrastiveCrop's
    heat maps."""
    variables = {"params": state.params["model"], "batch_stats": state.batch_stats}
    maps = network.apply(variables, images, train=False, method=network.feature_maps)
    return list(maps.values())[-1]


def make_train_step(
    *,
    method: Method,
    probe: nn.Module,
    optimizer: optax.GradientTransformation,
    view_specs: tuple,
    base_key: jax.Array,
    total_steps: int,
    learning_rate: Callable,
    crop_policy: crops.ContrastiveCrop | None = None,
) -> Callable:
    """(state, batch) -> (state, metrics). Augments on device with fold_in(base_key, step) (each crop inside
    its example's box when a crop policy is set, whose state moves first), differentiates method.loss w.r.t.
    the online params only, applies the optimizer and the method's after_update, moves the EMA target, and
    stores the method's new own state (state.extra)."""

    def train_step(state: TrainState, batch: dict):
        key = jax.random.fold_in(base_key, state.step)
        crop_state, bounds = state.crop, None
        if crop_policy is not None:
            size = view_specs[0].size
            crop_state = crop_policy.update(
                state.crop,
                state.step,
                batch["index"],
                lambda: last_feature_map(
                    method.network, state, augment.whole_view(batch["image"][:, 0], size)
                ),
                size,
            )
            bounds = crop_policy.bounds(crop_state, batch["index"])
        inputs = LossInputs(
            batch_stats=state.batch_stats,
            target=state.target,
            extra=state.extra,
            views=augment.make_views(key, batch["image"], view_specs, bounds),
            indices=batch["index"],
            labels=batch["label"],
            step=state.step,
            key=jax.random.fold_in(key, LOSS_KEY_SALT),
            soft_labels=batch.get("soft_label"),
        )
        (loss, aux), model_grads = jax.value_and_grad(method.loss, has_aux=True)(
            state.params["model"], inputs
        )
        (probe_value, probe_top1), probe_grads = jax.value_and_grad(
            lambda p: probe_loss(probe, p, aux.features, batch["label"]), has_aux=True
        )(state.params["probe"])
        grads = {"model": model_grads, "probe": probe_grads}
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        pseudo_metrics = {}
        if aux.pseudo_labels is not None and "true_label" in batch:
            pseudo_metrics["pseudo_label_top1"] = pseudo_label_top1(aux.pseudo_labels, batch["true_label"])
        if method.after_update is not None:
            params = {**params, "model": method.after_update(params["model"])}
        metrics = {
            "loss": loss,
            **aux.metrics,
            "probe_loss": probe_value,
            "probe_top1": probe_top1,
            "lr": learning_rate(state.step),
            "grad_norm": optax.tree.norm(model_grads),
            **pseudo_metrics,
        }
        target = state.target
        if method.uses_target:
            tau = method.target_decay(state.step, total_steps)
            target = ema.update(target, {"params": params["model"], "batch_stats": aux.batch_stats}, tau)
            metrics["tau"] = tau
        new_state = state.replace(
            step=state.step + 1,
            params=params,
            batch_stats=aux.batch_stats,
            target=target,
            opt_state=opt_state,
            extra=state.extra if aux.extra is None else aux.extra,
            crop=crop_state,
        )
        return new_state, metrics

    return train_step


def make_embed_fn(
    network: nn.Module, image_size: int, with_projection: bool = False, with_logits: bool = False
) -> Callable:
    """(params, batch_stats, batch) -> {"features", "label", "mask"} (and "projection", "logits" when asked):
    backbone features, projector output and the network's own class logits (eval mode) of the centre view of
    batch["image"] (uint8 (B, 1, H, W, C)), with the batch's labels and padding mask."""

    def embed(params, batch_stats, batch):
        views = augment.center_view(batch["image"][:, 0], image_size)
        variables = {"params": params, "batch_stats": batch_stats}
        if with_projection or with_logits:
            outputs = network.apply(variables, views, train=False)
        else:
            outputs = {"features": network.apply(variables, views, train=False, method=network.features)}
        kept = ("features",) + ("projection",) * with_projection + ("logits",) * with_logits
        outputs = {name: outputs[name] for name in kept if name in outputs}
        return {**outputs, "label": batch["label"], "mask": batch["mask"]}

    return embed


def make_pair_embed_fn(network: nn.Module, view_specs: tuple) -> Callable:
    """(params, batch_stats, batch, key) -> {"view_a", "view_b", "mask"}: backbone features (eval mode) of two
    augmented views (view_specs[0] and [1], or two draws of a single view; cropped on device even where
    training crops on the host) of each image of batch["image"] (uint8 (B, 1, H, W, C)); the positive pairs of
    the alignment metric."""
    pair = (view_specs[0], view_specs[min(1, len(view_specs) - 1)])
    specs = tuple(dataclasses.replace(spec, random_crop=True) for spec in pair)

    def embed(params, batch_stats, batch, key):
        views = augment.make_views(key, batch["image"], specs)
        features = [
            network.apply(
                {"params": params, "batch_stats": batch_stats}, view, train=False, method=network.features
            )
            for view in views
        ]
        return {"view_a": features[0], "view_b": features[1], "mask": batch["mask"]}

    return embed
