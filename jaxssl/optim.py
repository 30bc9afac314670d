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


def with_probe(
    model_optimizer: optax.GradientTransformation, probe_lr: float
) -> optax.GradientTransformation:
    """The whole optimizer: `model_optimizer` on params['model'], Adam(probe_lr) on the online linear probe
    params['probe'] (its input is stop-gradient features, so the two never interact)."""
    return optax.multi_transform(
        {"model": model_optimizer, "probe": optax.adam(probe_lr)}, {"model": "model", "probe": "probe"}
    )
