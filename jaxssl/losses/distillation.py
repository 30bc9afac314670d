"""Self-distillation without labels: DINO's cross entropy between a centred, sharpened teacher and a student,
iBOT's on masked patch tokens, and DINOv2's KoLeo regulariser; and SimCLR v2's distillation of a fine-tuned
teacher's tempered class distribution."""

import jax
import jax.numpy as jnp

from jaxssl.losses.contrastive import l2_normalize


def centered_softmax(teacher_logits: jax.Array, center: jax.Array, teacher_temp) -> jax.Array:
    """DINO's teacher distribution softmax((g_t - c) / teacher_temp) over the last axis, under stop_gradient."""
    centered = (teacher_logits.astype(jnp.float32) - center.astype(jnp.float32)) / teacher_temp
    return jax.lax.stop_gradient(jax.nn.softmax(centered, axis=-1))


def self_distillation(
    student_logits: list[jax.Array], targets: list[jax.Array], student_temp: float
) -> jax.Array:
    r"""The cross entropy of DINO's multi-crop loss from given teacher distributions (a centred softmax, or
    DINOv2's Sinkhorn-Knopp codes):

        loss = mean_{(g, v): v != g} mean_b - sum_k P_t[g]_bk log softmax(g_s[v] / student_temp)_bk.

    student_logits: V arrays (B, K), the first G being the crops of the G targets, in the same order;
    targets: G arrays (B, K) of probabilities, held under stop_gradient.
    """
    targets = [jax.lax.stop_gradient(t.astype(jnp.float32)) for t in targets]
    log_probs = [jax.nn.log_softmax(s.astype(jnp.float32) / student_temp, axis=-1) for s in student_logits]
    terms = [
        -jnp.mean(jnp.sum(target * lp, axis=-1))
        for g, target in enumerate(targets)
        for v, lp in enumerate(log_probs)
        if v != g
    ]
    return sum(terms) / len(terms)


def dino(
    student_logits: list[jax.Array],
    teacher_logits: list[jax.Array],
    center: jax.Array,
    student_temp: float = 0.1,
    teacher_temp: float = 0.04,
) -> jax.Array:
    r"""DINO's multi-crop distillation loss.

    Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers", eq. (1)-(3) and
    algorithm 1. With P_t = softmax((g_t - c) / teacher_temp) (centred and sharpened, under stop_gradient)
    and P_s = softmax(g_s / student_temp),

        loss = mean_{(g, v): v != g} mean_b - sum_k P_t[g]_bk log P_s[v]_bk,

    averaged over the number of (teacher crop, student crop) pairs with different crops.

    student_logits: V arrays (B, K), all crops, the first G being the global crops in the teacher's order;
    teacher_logits: G arrays (B, K); center: (K,).
    """
    targets = [centered_softmax(t, center, teacher_temp) for t in teacher_logits]
    return self_distillation(student_logits, targets, student_temp)


def masked_self_distillation(
    student_patch_logits: jax.Array, targets: jax.Array, mask: jax.Array, student_temp: float
) -> jax.Array:
    r"""iBOT's masked-patch cross entropy from given teacher distributions per patch token:

        l_b = sum_n m_bn H(P_t[b, n], P_s[b, n]) / sum_n m_bn,   loss = mean of l_b over the images b with
        sum_n m_bn > 0 (0 when none has a masked patch),

    with H(p, q) = - sum_k p_k log q_k and P_s = softmax(student / student_temp).

    student_patch_logits: (B, N, K); targets: (B, N, K) probabilities, held under stop_gradient;
    mask: (B, N), 1 on the patches the student saw masked.
    """
    targets = jax.lax.stop_gradient(targets.astype(jnp.float32))
    log_probs = jax.nn.log_softmax(student_patch_logits.astype(jnp.float32) / student_temp, axis=-1)
    per_patch = -jnp.sum(targets * log_probs, axis=-1)
    mask = mask.astype(jnp.float32)
    masked = jnp.sum(mask, axis=1)
    per_image = jnp.sum(per_patch * mask, axis=1) / jnp.maximum(masked, 1.0)
    has_masked = (masked > 0).astype(jnp.float32)
    return jnp.sum(per_image * has_masked) / jnp.maximum(jnp.sum(has_masked), 1.0)


def ibot_patch(
    student_patch_logits: jax.Array,
    teacher_patch_logits: jax.Array,
    mask: jax.Array,
    center: jax.Array,
    student_temp: float = 0.1,
    teacher_temp: float = 0.04,
) -> jax.Array:
    r"""iBOT's masked image modelling loss by self-distillation.

    Zhou et al. 2022, "iBOT: Image BERT Pre-Training with Online Tokenizer", section 3 (L_MIM): the
    student sees the view with the patches of `mask` replaced by a mask token, the teacher the unmasked view;
    with P_t = softmax((h_t - c) / teacher_temp) (the teacher's patch head, centred by the patch centre c and
    sharpened) and P_s = softmax(h_s / student_temp),

        L_MIM = mean over images with a masked patch of
                sum_n m_n (- sum_k P_t[n]_k log P_s[n]_k) / sum_n m_n.

    student_patch_logits, teacher_patch_logits: (B, N, K) logits of the N patch tokens; mask: (B, N), 1 on
    the patches the student saw masked; center: (K,).
    """
    targets = centered_softmax(teacher_patch_logits, center, teacher_temp)
    return masked_self_distillation(student_patch_logits, targets, mask, student_temp)


def koleo(features: jax.Array, eps: float = 1e-8) -> jax.Array:
    r"""The KoLeo regulariser: the Kozachenko-Leonenko differential entropy estimator, negated.

    Sablayrolles et al. 2019, "Spreading vectors for similarity search", section 3; Oquab et al. 2023,
    "DINOv2: Learning Robust Visual Features without Supervision", section 4: with x_i the L2-normalised
    rows of `features` and rho_i = min_{j != i} ||x_i - x_j|| the distance to the nearest other row,

        L_koleo = - 1/B sum_i log(rho_i + eps).

    features: (B, D), B >= 2. The nearest row is chosen by the largest inner product (an index, without a
    gradient); the distance to it is differentiated through both rows.
    """
    if features.shape[0] < 2:
        raise ValueError(f"KoLeo needs at least 2 rows to find a nearest neighbour, got {features.shape[0]}")
    x = l2_normalize(features.astype(jnp.float32))
    similarities = x @ x.T
    others = jnp.where(jnp.eye(x.shape[0], dtype=bool), -jnp.inf, similarities)
    nearest = jax.lax.stop_gradient(jnp.argmax(others, axis=1))
    squared = jnp.sum(jnp.square(x - x[nearest]), axis=1)
    distance = jnp.sqrt(jnp.maximum(squared, jnp.finfo(jnp.float32).tiny))
    return -jnp.mean(jnp.log(distance + eps))


def dino_center(center: jax.Array, teacher_logits: list[jax.Array], momentum: float = 0.9) -> jax.Array:
    r"""DINO's centre update, eq. (4): c <- m c + (1 - m) mean over the global batch of all teacher crops.

    center: (K,); teacher_logits: G arrays (B, K). Returns the new centre under stop_gradient.
    """
    batch_mean = jnp.mean(jnp.concatenate([t.astype(jnp.float32) for t in teacher_logits], axis=0), axis=0)
    return jax.lax.stop_gradient(momentum * center.astype(jnp.float32) + (1.0 - momentum) * batch_mean)


def teacher_temperature(step, warmup_steps: float, start: float = 0.04, end: float = 0.04) -> jax.Array:
    """DINO's teacher temperature: linear from `start` at step 0 to `end` at warmup_steps, then `end`.

    Caron et al. 2021, section 3 (implementation details) and appendix: 0.04 -> 0.07 over the first 30
    epochs. warmup_steps = 0 means no warm-up.
    """
    if warmup_steps <= 0:
        return jnp.asarray(end, jnp.float32)
    progress = jnp.clip(jnp.asarray(step, jnp.float32) / warmup_steps, 0.0, 1.0)
    return start + (end - start) * progress


def knowledge_distillation(
    student_logits: jax.Array, teacher_probabilities: jax.Array, temperature: float
) -> jax.Array:
    r"""The distillation loss of SimCLR v2 (Chen et al. 2020b, "Big Self-Supervised Models are Strong
    Semi-Supervised Learners", eq. (2); Hinton et al. 2015's soft targets):

        L = - 1/N sum_i sum_y P_T(y | x_i; tau) log P_S(y | x_i; tau),
        P(y | x; tau) = exp(f(x)[y] / tau) / sum_y' exp(f(x)[y'] / tau),

    with the teacher given by its class distribution p_T = P_T(. | x; 1), whose tempered form is
    softmax(log p_T / tau) (the same as from its logits, the log-sum-exp cancelling); probabilities of 0 (a
    float16 underflow) count as the smallest float32. No tau^2 factor: eq. (2) has none.

    student_logits: (N, K); teacher_probabilities: (N, K) rows summing to 1, held under stop_gradient.
    """
    teacher_log = jnp.log(jnp.maximum(teacher_probabilities.astype(jnp.float32), jnp.finfo(jnp.float32).tiny))
    targets = jax.lax.stop_gradient(jax.nn.softmax(teacher_log / temperature, axis=-1))
    log_probs = jax.nn.log_softmax(student_logits.astype(jnp.float32) / temperature, axis=-1)
    return -jnp.mean(jnp.sum(targets * log_probs, axis=-1))
