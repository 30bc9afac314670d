"""Few-shot classifiers on frozen features: nearest prototype, the closed-form ridge probe, logistic
regression on each episode's support set, and the mean accuracy with its 95 % confidence interval.

Episodes are batched: support (E, ways x shots, D) and query (E, ways x queries, D), rows class by class
(jaxssl/data/episodes.py), so every episode's support labels are episodes.episode_labels(ways, shots).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

METRICS = ("euclidean", "cosine")
PROBES = ("logistic", "ridge")  # the N-shot probes: L-BFGS logistic regression or closed-form ridge


def _unit(x):
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def prototype_scores(support, support_onehot, query, metric: str):
    """(..., Q, K) scores of the queries against the class prototypes c_k = mean of class k's support rows
    (Snell et al. 2017, eq. 1): -||x - c_k||^2 (eq. 2's logits) or cos(x, c_k). support (..., S, D),
    support_onehot (S, K), query (..., Q, D)."""
    if metric not in METRICS:
        raise ValueError(f"unknown prototype metric {metric!r}; choose from {list(METRICS)}")
    prototypes = jnp.einsum("sk,...sd->...kd", support_onehot, support) / support_onehot.sum(0)[:, None]
    if metric == "cosine":
        return jnp.einsum("...qd,...kd->...qk", _unit(query), _unit(prototypes))
    cross = jnp.einsum("...qd,...kd->...qk", query, prototypes)
    squared = jnp.sum(query**2, axis=-1)[..., :, None] + jnp.sum(prototypes**2, axis=-1)[..., None, :]
    return 2.0 * cross - squared


def prototype_classify(support, support_labels, query, metric: str = "euclidean") -> jax.Array:
    """The predicted label of each query row by its nearest class prototype (Snell et al. 2017, eq. 1-2):
    c_k = (1/|S_k|) sum_{x in S_k} x, y(x) = argmin_k ||x - c_k||^2, or argmax_k cos(x, c_k) when
    metric="cosine". support (S, D) float, support_labels (S,) ints 0 .. K-1 (each present), query (Q, D)
    -> (Q,) int32."""
    support_labels = np.asarray(support_labels)
    onehot = jnp.asarray(support_labels[:, None] == np.arange(support_labels.max() + 1), jnp.float32)
    scores = prototype_scores(
        jnp.asarray(support, jnp.float32), onehot, jnp.asarray(query, jnp.float32), metric
    )
    return jnp.argmax(scores, axis=-1).astype(jnp.int32)


def prototype_episodes(support, query, *, ways: int, metric: str) -> np.ndarray:
    """(E, Q) predictions of nearest-prototype classification of E episodes (rows class by class)."""
    shots = support.shape[1] // ways
    onehot = jnp.repeat(jnp.eye(ways, dtype=jnp.float32), shots, axis=0)
    scores = prototype_scores(
        jnp.asarray(support, jnp.float32), onehot, jnp.asarray(query, jnp.float32), metric
    )
    return np.asarray(jnp.argmax(scores, axis=-1))


def ridge_fit(features, labels, *, num_classes: int, l2_reg: float) -> dict:
    """The regularised least-squares few-shot probe (Dosovitskiy et al. 2021, section 4.1; big_vision's
    few-shot evaluator): with X the centred features and Y the one-hot labels,
    W = argmin ||X W - Y||^2 + l2_reg ||W||^2 = (X^T X + l2_reg I)^-1 X^T Y = X^T (X X^T + l2_reg I)^-1 Y,
    solved in the smaller of the two (D x D or N x N) systems; b = mean(Y) - mean(x) W. The paper's {-1, 1}
    targets 2Y - 1 give 2W and a bias shifted equally for every class: the same predictions. Returns
    {"w", "b"}."""
    features = jnp.asarray(features, jnp.float32)
    mean = features.mean(0)
    x = features - mean
    y = jax.nn.one_hot(jnp.asarray(labels), num_classes, dtype=jnp.float32)
    n, d = x.shape
    if n < d:
        w = x.T @ jnp.linalg.solve(x @ x.T + l2_reg * jnp.eye(n), y)
    else:
        w = jnp.linalg.solve(x.T @ x + l2_reg * jnp.eye(d), x.T @ y)
    return {"w": w, "b": y.mean(0) - mean @ w}


def ridge_top1(train_features, train_labels, test_features, test_labels, *, num_classes: int, l2_reg: float):
    """Top-1 on the test features of the ridge probe fitted on the train features."""
    params = ridge_fit(train_features, train_labels, num_classes=num_classes, l2_reg=l2_reg)
    predictions = np.argmax(
        np.asarray(jnp.asarray(test_features, jnp.float32) @ params["w"] + params["b"]), -1
    )
    return float(np.mean(predictions == np.asarray(test_labels)))


@functools.partial(jax.jit, static_argnames=("ways", "steps"))
def logistic_episodes(support, query, *, ways: int, l2: float, steps: int):
    """(E, Q) predictions of an L2-regularised logistic regression fitted on each episode's support set:
    argmin_W,b (1/S) sum_s CE(softmax(x_s W + b), y_s) + l2 ||W||^2 on L2-normalised features (Tian et al.
    2020, "Rethinking Few-Shot Image Classification", section 3: a few support rows give no per-dimension
    statistics to standardise with), by `steps` steps of full-batch gradient descent from zero at the step
    1 / (1 + 2 l2), the inverse of the loss's smoothness bound for unit rows with a bias. Gradient descent
    from zero keeps W = X^T A in the support rows' span, so it runs on A (S x ways) and the Gram matrix
    X X^T, exactly as on W:
    A <- A - lr ((softmax(X X^T A + b) - Y) / S + 2 l2 A),  b <- b - lr sum_s (softmax(...) - Y)_s / S."""
    support, query = _unit(jnp.asarray(support, jnp.float32)), _unit(jnp.asarray(query, jnp.float32))
    targets = jnp.repeat(jnp.eye(ways, dtype=jnp.float32), support.shape[1] // ways, axis=0)
    gram = jnp.einsum("esd,etd->est", support, support)
    rate = 1.0 / (1.0 + 2.0 * l2)

    def step(carry, _):
        a, b = carry
        residual = (jax.nn.softmax(gram @ a + b[:, None], axis=-1) - targets) / support.shape[1]
        return (a - rate * (residual + 2.0 * l2 * a), b - rate * residual.sum(1)), None

    start = (jnp.zeros((*gram.shape[:2], ways)), jnp.zeros((gram.shape[0], ways)))
    (a, b), _ = jax.lax.scan(step, start, None, length=steps)
    logits = jnp.einsum("eqd,esd->eqs", query, support) @ a + b[:, None]
    return jnp.argmax(logits, axis=-1)


def mean_ci95(predictions, query_labels) -> dict:
    """{"top1": the mean over episodes of each episode's query accuracy, "ci95": the half-width 1.96 s / sqrt(E)
    of its normal-approximation 95 % confidence interval (s the episodes' standard deviation, ddof 1),
    "episodes": E}. predictions (E, Q), query_labels (Q,)."""
    accuracy = np.mean(np.asarray(predictions) == np.asarray(query_labels)[None], axis=1)
    spread = float(np.std(accuracy, ddof=1)) if len(accuracy) > 1 else 0.0
    return {
        "top1": float(accuracy.mean()),
        "ci95": 1.96 * spread / float(np.sqrt(len(accuracy))),
        "episodes": int(len(accuracy)),
    }
