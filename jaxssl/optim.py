"""Optimizers over the online network and the online probe."""

import jax
import optax

OPTIMIZERS = ("lars", "sgd", "adamw")


def decay_mask(params):
    """True for the parameters that get weight decay and LARS adaptation: kernels, not biases or norm
    scales/offsets (every leaf with fewer than 2 dimensions), as in SimCLR and BYOL."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


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


def hold(optimizer: optax.GradientTransformation, frozen) -> optax.GradientTransformation:
    """`optimizer`, except that the params under each (path prefix, steps) of `frozen` are held still for
    their first `steps` updates (after_steps); the first matching prefix wins, "" matches every param.
    Every optimizer here adapts per parameter array (LARS's trust ratio too), so splitting the params
    between copies of it changes nothing else."""
    frozen = tuple((prefix.strip("/"), int(steps)) for prefix, steps in frozen)

    def label(path, _):
        name = path_name(path)
        for index, (prefix, _) in enumerate(frozen):
            if not prefix or name == prefix or name.startswith(prefix + "/"):
                return f"held{index}"
        return "train"

    transforms = {"train": optimizer}
    transforms.update({f"held{i}": after_steps(optimizer, steps) for i, (_, steps) in enumerate(frozen)})
    return optax.multi_transform(transforms, lambda params: jax.tree_util.tree_map_with_path(label, params))


def with_probe(
    model_optimizer: optax.GradientTransformation, probe_lr: float
) -> optax.GradientTransformation:
    """The whole optimizer: `model_optimizer` on params['model'], Adam(probe_lr) on the online linear probe
    params['probe'] (its input is stop-gradient features, so the two never interact)."""
    return optax.multi_transform(
        {"model": model_optimizer, "probe": optax.adam(probe_lr)}, {"model": "model", "probe": "probe"}
    )
