"""The unlabelled-row losses of semi-supervised learning: FixMatch's and pseudo-label's confident hard labels,
Mean Teacher's and MixMatch's consistency, MixMatch's sharpening and MixUp, deep co-training's agreement."""

import jax
import jax.numpy as jnp
import optax


def fixmatch_unlabelled(
    logits_weak: jax.Array, logits_strong: jax.Array, threshold: float
) -> tuple[jax.Array, jax.Array]:
    r"""FixMatch's unlabelled loss (Sohn et al. 2020, eq. 4) and the fraction of rows it keeps:

        L_u = 1/(mu B) sum_b 1[max_k p_b,k >= tau] CE(argmax_k p_b,k, softmax(logits_strong_b)),
        p_b = softmax(stop_gradient(logits_weak_b)),

    the mean over all unlabelled rows (the rows below the threshold count as zeros, not left out), logits
    (N, K). With logits_weak = logits_strong it is pseudo-label's loss (Lee 2013, eq. 1-2, with a confidence
    threshold), the label taken from the same forward and not differentiated."""
    labels, confident = confident_pseudo_labels(logits_weak, threshold)
    per_row = optax.softmax_cross_entropy_with_integer_labels(
        logits_strong.astype(jnp.float32), jnp.maximum(labels, 0)
    )
    mask = confident.astype(jnp.float32)
    return jnp.mean(mask * per_row), jnp.mean(mask)


def confident_pseudo_labels(logits: jax.Array, threshold: float) -> tuple[jax.Array, jax.Array]:
    """(argmax_k p_k where max_k p_k >= threshold, else -1; that mask), p = softmax(stop_gradient(logits)):
    the hard pseudo-labels of FixMatch and pseudo-label, logits (N, K)."""
    probs = jax.nn.softmax(jax.lax.stop_gradient(logits).astype(jnp.float32), axis=-1)
    confident = jnp.max(probs, axis=-1) >= threshold
    return jnp.where(confident, jnp.argmax(probs, axis=-1), -1), confident


def sharpen(probs: jax.Array, temperature: float) -> jax.Array:
    r"""MixMatch's sharpening (Berthelot et al. 2019, eq. 7): p_k^(1/T) / sum_j p_j^(1/T) over the last axis,
    computed as softmax(log p / T) so that small probabilities raised to 1/T = 2 do not underflow first."""
    return jax.nn.softmax(jnp.log(jnp.maximum(probs, jnp.finfo(probs.dtype).tiny)) / temperature, axis=-1)


def consistency_mse(logits: jax.Array, target_probs: jax.Array) -> jax.Array:
    r"""Mean squared distance between the predicted class probabilities and fixed targets, over rows and
    classes:

        L = 1/(N K) sum_n ||softmax(logits_n) - stop_gradient(q_n)||^2,

    Mean Teacher's consistency cost (Tarvainen and Valpola 2017, section 2, q the teacher's softmax) and
    MixMatch's L_U (Berthelot et al. 2019, eq. 5, q the mixed guessed labels)."""
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    return jnp.mean(jnp.square(probs - jax.lax.stop_gradient(target_probs.astype(jnp.float32))))


def soft_cross_entropy(logits: jax.Array, target_probs: jax.Array) -> jax.Array:
    """Mean over rows of -sum_k q_k log softmax(logits)_k: MixMatch's L_X on mixed labelled rows (eq. 4) and a
    soft-label student's loss (Noisy Student)."""
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return jnp.mean(-jnp.sum(jax.lax.stop_gradient(target_probs) * log_probs, axis=-1))


def jensen_shannon(logits_first: jax.Array, logits_second: jax.Array) -> jax.Array:
    r"""Deep co-training's agreement loss (Qiao et al. 2018, eq. 3): the Jensen-Shannon divergence of two
    networks' class distributions, in nats, the mean over rows,

        L_cot = 1/N sum_n [H((p_n + q_n) / 2) - (H(p_n) + H(q_n)) / 2],  H(p) = -sum_k p_k log p_k,
        p_n = softmax(logits_first_n), q_n = softmax(logits_second_n),

    zero exactly where the two agree, at most log 2; symmetric, and both inputs are differentiated (each
    network moves toward the other). Logits (N, K)."""
    log_p = jax.nn.log_softmax(logits_first.astype(jnp.float32), axis=-1)
    log_q = jax.nn.log_softmax(logits_second.astype(jnp.float32), axis=-1)
    p, q = jnp.exp(log_p), jnp.exp(log_q)
    mixture_entropy = jnp.sum(jax.scipy.special.entr((p + q) / 2), axis=-1)
    mean_entropy = -jnp.sum(p * log_p + q * log_q, axis=-1) / 2
    return jnp.mean(mixture_entropy - mean_entropy)


def mix_rows(
    x: jax.Array, y: jax.Array, weights: jax.Array, partners: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """x' = w x + (1 - w) x[partners] and y' likewise, row by row (weights (N,), partners (N,) row indices)."""

    def mix(values):
        w = weights.reshape((-1,) + (1,) * (values.ndim - 1)).astype(values.dtype)
        return w * values + (1 - w) * values[partners]

    return mix(x), mix(y)


def mixup(key: jax.Array, x: jax.Array, y: jax.Array, alpha: float) -> tuple[jax.Array, jax.Array]:
    r"""MixMatch's MixUp (Berthelot et al. 2019, eq. 8-11): every row n is mixed with row pi(n) of a random
    permutation pi of the batch,

        lambda_n ~ Beta(alpha, alpha),  lambda'_n = max(lambda_n, 1 - lambda_n),
        x'_n = lambda'_n x_n + (1 - lambda'_n) x_pi(n),  y'_n = lambda'_n y_n + (1 - lambda'_n) y_pi(n),

    so each mixed row stays closer to its own row (lambda' >= 1/2): the first rows remain "labelled" and the
    rest "unlabelled" for the two loss terms. x (N, ...) inputs, y (N, K) label distributions. Passing the
    concatenation of MixMatch's labelled and unlabelled rows is the paper's W = Shuffle(Concat(X, U))."""
    permutation_key, weight_key = jax.random.split(key)
    rows = x.shape[0]
    weights = jax.random.beta(weight_key, alpha, alpha, (rows,))
    return mix_rows(x, y, jnp.maximum(weights, 1.0 - weights), jax.random.permutation(permutation_key, rows))
