"""Optimizers over the online network and the online probe."""

import re

import jax
import jax.numpy as jnp
import optax

OPTIMIZERS = ("lars", "sgd", "adamw")
# Token-like parameters that no decay reaches (MAE's and timm's no_weight_decay): positions, cls, mask token.
NO_DECAY_NAMES = ("pos_embed", "cls_token", "mask_token")
BLOCK_NAME = re.compile(r"(?:^|/)blocks_(\d+)(?:/|$)")  # a ViT's transformer block i in a params path


def decay_mask(params):
    """True for the parameters that get weight decay and LARS adaptation: kernels, not biases or norm
    scales/offsets (every leaf with fewer than 2 dimensions), as in SimCLR and BYOL, nor a ViT's position
    embeddings, cls token or mask token (NO_DECAY_NAMES), as in MAE and timm."""
    return jax.tree_util.tree_map_with_path(
        lambda path, p: p.ndim > 1 and path_name(path).rsplit("/", 1)[-1] not in NO_DECAY_NAMES, params
    )


def make_optimizer(
    name: str,
    learning_rate,
    *,
    weight_decay: float,
    momentum: float = 0.9,
    nesterov: bool = False,
    trust_coefficient: float = 0.001,
    b1: float = 0.9,
    b2: float = 0.999,
) -> optax.GradientTransformation:
    """LARS (You et al. 2017) with biases and norm parameters excluded from decay and adaptation, SGD with
    momentum and L2 decay added to the gradient, or AdamW (decoupled decay)."""
    if name == "lars":
        return optax.lars(
            learning_rate,
            weight_decay=weight_decay,
            weight_decay_mask=decay_mask,
            trust_coefficient=trust_coefficient,
            trust_ratio_mask=decay_mask,
            momentum=momentum,
            nesterov=nesterov,
        )
    if name == "sgd":
        return optax.chain(
            optax.add_decayed_weights(weight_decay, mask=decay_mask),
            optax.sgd(learning_rate, momentum=momentum, nesterov=nesterov),
        )
    if name == "adamw":
        return optax.adamw(learning_rate, b1=b1, b2=b2, weight_decay=weight_decay, mask=decay_mask)
    raise ValueError(f"unknown optimizer {name!r}; choose from {list(OPTIMIZERS)}")


def after_steps(optimizer: optax.GradientTransformation, steps: int) -> optax.GradientTransformation:
    """`optimizer` masked for its first `steps` updates: zero updates and an unchanged inner state (no
    momentum, no weight decay) until then, then `optimizer` itself."""
    return optax.transforms.conditionally_mask(optimizer, lambda count: count >= steps)


def path_name(path) -> str:
    """A params key path as "projector/last_layer/kernel"."""
    return "/".join(str(getattr(key, "key", key)) for key in path)


def hold(optimizer: optax.GradientTransformation, frozen, root: str = "") -> optax.GradientTransformation:
    """`optimizer`, except that the params under each (path prefix, steps) of `frozen` are held still for
    their first `steps` updates (after_steps); the first matching prefix wins, "" matches every param.
    Every optimizer here adapts per parameter array (LARS's trust ratio too), so splitting the params
    between copies of it changes nothing else.

    `root`: where the params the prefixes name sit in the tree this optimizer sees. Inside `with_probe`
    (optax.multi_transform) the model optimizer sees the whole {"model", "probe"} tree with the probe
    masked, so the prefixes of a method's `frozen` are under root="model"."""
    frozen = tuple((prefix.strip("/"), int(steps)) for prefix, steps in frozen)
    root = root.strip("/") + "/" if root.strip("/") else ""

    def label(path, _):
        name = path_name(path)
        name = name[len(root) :] if name.startswith(root) else name
        for index, (prefix, _) in enumerate(frozen):
            if not prefix or name == prefix or name.startswith(prefix + "/"):
                return f"held{index}"
        return "train"

    transforms = {"train": optimizer}
    transforms.update({f"held{i}": after_steps(optimizer, steps) for i, (_, steps) in enumerate(frozen)})
    return optax.multi_transform(transforms, lambda params: jax.tree_util.tree_map_with_path(label, params))


def layer_of(name: str, num_blocks: int) -> int:
    """The layer id of a ViT param path for layer-wise lr decay (BEiT, Bao et al. 2022; MAE appendix A.3):
    0 for the patch embedding, positions and cls token, i + 1 for transformer block i, num_blocks + 1 for
    everything after the blocks (the final norm, the head)."""
    block = BLOCK_NAME.search(name)
    if block:
        return int(block.group(1)) + 1
    leaf = name.rsplit("/", 1)[-1]
    if leaf in NO_DECAY_NAMES or "/patch_embed/" in f"/{name}/":
        return 0
    return num_blocks + 1


def layer_decay_scales(params, layer_decay: float):
    """A pytree of lr multipliers: layer_decay ** (num_blocks + 1 - layer id), so the head trains at the
    full rate and every earlier layer at layer_decay times the next one's. ValueError for a network without
    transformer blocks (layer-wise decay is defined for ViTs)."""
    names = [path_name(path) for path, _ in jax.tree_util.tree_leaves_with_path(params)]
    blocks = {int(match.group(1)) for match in map(BLOCK_NAME.search, names) if match}
    if not blocks:
        raise ValueError("layer_decay < 1 needs a network with transformer blocks (a ViT backbone)")
    depth = max(blocks) + 1
    return jax.tree_util.tree_map_with_path(
        lambda path, _: layer_decay ** (depth + 1 - layer_of(path_name(path), depth)), params
    )


def scale_by_layer(scales) -> optax.GradientTransformation:
    """Multiplies each update by its leaf's scale: after AdamW (whose decoupled decay is part of the update)
    this is exactly a per-layer learning rate."""

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda u, s: u * jnp.asarray(s, u.dtype), updates, scales), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def with_probe(
    model_optimizer: optax.GradientTransformation, probe_lr: float
) -> optax.GradientTransformation:
    """The whole optimizer: `model_optimizer` on params['model'], Adam(probe_lr) on the online linear probe
    params['probe'] (its input is stop-gradient features, so the two never interact)."""
    return optax.multi_transform(
        {"model": model_optimizer, "probe": optax.adam(probe_lr)}, {"model": "model", "probe": "probe"}
    )
