"""The unlabelled-row losses of semi-supervised learning: FixMatch's and pseudo-label's confident hard labels,
Mean Teacher's and MixMatch's consistency, MixMatch's sharpening and MixUp, deep co-training's agreement, VAT's
virtual adversarial perturbation and entropy minimisation, UDA's masked sharpened consistency and its
training-signal annealing of the labelled rows."""

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


def kl_to_target(target_probs: jax.Array, logits: jax.Array) -> jax.Array:
    r"""KL(q_n || softmax(logits_n)) of each row n, in nats, the targets q fixed (under stop_gradient):

        KL_n = sum_k q_n,k (log q_n,k - log softmax(logits_n)_k),   0 log 0 = 0.

    target_probs (N, K) class distributions, logits (N, K); returns (N,)."""
    target = jax.lax.stop_gradient(target_probs.astype(jnp.float32))
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return jnp.sum(jax.scipy.special.xlogy(target, target) - target * log_probs, axis=-1)


def unit_rows(x: jax.Array) -> jax.Array:
    """Each row of x (N, ...) divided by its L2 norm over all its other axes, in float32; a row of zeros
    stays zeros. The row is first divided by its largest magnitude, so that the squares of a tiny gradient
    neither underflow nor lose their direction."""
    x = x.astype(jnp.float32)
    axes = tuple(range(1, x.ndim))
    tiny = jnp.finfo(jnp.float32).tiny
    scaled = x / jnp.maximum(jnp.max(jnp.abs(x), axis=axes, keepdims=True), tiny)
    return scaled / jnp.maximum(jnp.sqrt(jnp.sum(jnp.square(scaled), axis=axes, keepdims=True)), tiny)


def virtual_adversarial_perturbation(
    logits_of, clean_logits: jax.Array, direction: jax.Array, xi: float, epsilon: float, iterations: int = 1
) -> jax.Array:
    r"""VAT's virtual adversarial perturbation by power iteration (Miyato et al. 2018, eq. 12-14), row by row:

        d <- d / ||d||                                                   a random unit direction per row
        repeat `iterations` times:
            g = grad_r sum_n KL(p(x_n) || p(x_n + r_n)) at r = xi d,    p(x_n) = softmax(clean_logits_n) fixed
            d <- g / ||g||
        r_adv = epsilon d,

    each norm taken per row over its other axes (unit_rows): g / xi approximates H d, H the Hessian of the
    divergence at r = 0, so the iteration converges to epsilon times its dominant eigenvector, the direction
    in which the prediction is most sensitive. logits_of(r) -> (N, K) is the network on the inputs moved by r
    (its weights fixed), clean_logits (N, K) its logits at r = 0 from the same batch, direction (N, ...) the
    random starting draw, in the shape of r. Returns r_adv under stop_gradient (a fixed input of the loss)."""
    target = jax.nn.softmax(jax.lax.stop_gradient(clean_logits).astype(jnp.float32), axis=-1)

    def divergence(r):
        return jnp.sum(kl_to_target(target, logits_of(r)))

    unit = unit_rows(direction)
    for _ in range(iterations):
        unit = unit_rows(jax.grad(divergence)(xi * unit))
    return jax.lax.stop_gradient(epsilon * unit)


def virtual_adversarial_loss(clean_logits: jax.Array, adversarial_logits: jax.Array) -> jax.Array:
    r"""VAT's local distributional smoothness term (Miyato et al. 2018, section 3: R_vadv), the mean over rows of

        LDS_n = KL(p(x_n) || p(x_n + r_adv_n)),   p(x_n) = softmax(stop_gradient(clean_logits_n)),

    the clean prediction a fixed target (the paper's theta-hat) and the prediction on the perturbed row
    differentiated."""
    target = jax.nn.softmax(clean_logits.astype(jnp.float32), axis=-1)
    return jnp.mean(kl_to_target(target, adversarial_logits))


def prediction_entropy(logits: jax.Array) -> jax.Array:
    r"""Entropy minimisation's term (Grandvalet and Bengio 2005, the conditional entropy that VAT + EntMin adds,
    Miyato et al. 2018), the mean over rows of the entropy of the predicted classes, in nats, differentiated:

        H = -1/N sum_n sum_k p_n,k log p_n,k,   p_n = softmax(logits_n)."""
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return jnp.mean(-jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1))


def uda_unlabelled(
    logits_weak: jax.Array, logits_strong: jax.Array, temperature: float, threshold: float
) -> tuple[jax.Array, jax.Array]:
    r"""UDA's consistency loss on the unlabelled rows (Xie et al. 2020, the consistency term of eq. 1 as a KL
    divergence, with section 3.2's sharpening and confidence-based masking) and the rows it keeps:

        L_u = 1/(mu B) sum_b 1[max_k p_b,k > beta] KL(p~_b || softmax(logits_strong_b)),
        p_b = softmax(stop_gradient(logits_weak_b)),  p~_b = softmax(stop_gradient(logits_weak_b) / tau),

    the weak view's prediction sharpened at temperature tau (0.4) the fixed target of the strong (RandAugment)
    view's, counted where its unsharpened confidence exceeds beta (`threshold`, 0.8); the mean over all rows,
    the masked ones as zeros (as FixMatch's). Returns (L_u, the (N,) bool mask)."""
    weak = jax.lax.stop_gradient(logits_weak).astype(jnp.float32)
    confident = jnp.max(jax.nn.softmax(weak, axis=-1), axis=-1) > threshold
    per_row = kl_to_target(jax.nn.softmax(weak / temperature, axis=-1), logits_strong)
    return jnp.mean(confident.astype(jnp.float32) * per_row), confident


# UDA's training-signal annealing schedules (Xie et al. 2020, section 3.2 and figure 2): alpha_t of the
# training progress t / T in [0, 1]; "none" keeps alpha_t = 1, every labelled row trained.
TSA_SCHEDULES = {
    "none": lambda progress: jnp.ones_like(progress),
    "linear": lambda progress: progress,
    "log": lambda progress: 1.0 - jnp.exp(-5.0 * progress),
    "exp": lambda progress: jnp.exp(5.0 * (progress - 1.0)),
}


def tsa_threshold(schedule: str, step, total_steps: int, num_classes: int) -> jax.Array:
    r"""UDA's training-signal annealing threshold (Xie et al. 2020, section 3.2):

        eta_t = alpha_t (1 - 1/K) + 1/K,   alpha_t = TSA_SCHEDULES[schedule](min(t / T, 1)),

    rising from near 1/K (chance) at step t = 0 to near 1 at t = T = `total_steps` and held after: linear
    alpha_t = t/T (from 0 to 1), log 1 - exp(-5 t/T) (fast first, to 1 - e^-5), exp exp(5 (t/T - 1)) (slow
    first, from e^-5)."""
    progress = jnp.clip(jnp.asarray(step, jnp.float32) / max(total_steps, 1), 0.0, 1.0)
    chance = 1.0 / num_classes
    return TSA_SCHEDULES[schedule](progress) * (1.0 - chance) + chance


def annealed_cross_entropy(
    logits: jax.Array, labels: jax.Array, threshold: jax.Array
) -> tuple[jax.Array, jax.Array]:
    r"""The labelled cross-entropy under training-signal annealing (Xie et al. 2020, section 3.2), and the
    fraction of rows it trains:

        L = sum_n m_n CE(logits_n, y_n) / max(sum_n m_n, 1),   m_n = 1[p_n,y_n <= eta_t],
        p_n = softmax(stop_gradient(logits_n)),

    a labelled row whose correct class is already predicted with a probability above eta_t (tsa_threshold)
    is left out, so that the few labels are not memorised before the unlabelled rows teach anything; the mean
    over the rows kept. At eta_t = 1 it is the mean cross-entropy of every row."""
    logits = logits.astype(jnp.float32)
    correct = jnp.take_along_axis(
        jax.nn.softmax(jax.lax.stop_gradient(logits), axis=-1), labels[:, None], axis=-1
    )[:, 0]
    kept = (correct <= threshold).astype(jnp.float32)
    per_row = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return jnp.sum(kept * per_row) / jnp.maximum(jnp.sum(kept), 1.0), jnp.mean(kept)
