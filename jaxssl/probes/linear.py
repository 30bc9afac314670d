"""Linear probe on frozen features: multinomial logistic regression fitted with L-BFGS."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax


def standardize(train_features, *others):
    """Features centred and scaled by the train split's per-dimension mean and std."""
    mean = train_features.mean(0, keepdims=True)
    std = train_features.std(0, keepdims=True) + 1e-6
    return [(x - mean) / std for x in (train_features, *others)]


@functools.partial(jax.jit, static_argnames=("num_classes", "steps"))
def fit_logistic_regression(features, labels, *, num_classes: int, l2: float, steps: int):
    """argmin_W,b mean_n CE(softmax(x_n W + b), y_n) + l2 * ||W||^2, by full-batch L-BFGS (optax.lbfgs)."""
    params = {"w": jnp.zeros((features.shape[1], num_classes)), "b": jnp.zeros((num_classes,))}

    def objective(p):
        logits = features @ p["w"] + p["b"]
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return ce + l2 * jnp.sum(jnp.square(p["w"]))

    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(objective)

    def body(carry, _):
        p, state = carry
        value, grad = value_and_grad(p, state=state)
        updates, state = solver.update(grad, state, p, value=value, grad=grad, value_fn=objective)
        return (optax.apply_updates(p, updates), state), value

    (params, _), _ = jax.lax.scan(body, (params, solver.init(params)), None, length=steps)
    return params


def linear_probe_top1(
    train_features, train_labels, test_features, test_labels, *, num_classes: int, l2: float, steps: int
) -> float:
    """Top-1 on the test features of a probe fitted on the (labelled) train features."""
    labelled = np.asarray(train_labels) >= 0
    train_x, test_x = standardize(
        np.asarray(train_features, np.float32)[labelled], np.asarray(test_features, np.float32)
    )
    params = fit_logistic_regression(
        jnp.asarray(train_x),
        jnp.asarray(np.asarray(train_labels)[labelled]),
        num_classes=num_classes,
        l2=l2,
        steps=steps,
    )
    predictions = np.argmax(np.asarray(test_x @ params["w"] + params["b"]), -1)
    return float(np.mean(predictions == np.asarray(test_labels)))
