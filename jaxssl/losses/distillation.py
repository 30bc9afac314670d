"""Self-distillation without labels: DINO's cross entropy between a centred, sharpened teacher and a student."""

import jax
import jax.numpy as jnp


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
    center = center.astype(jnp.float32)
    targets = [
        jax.lax.stop_gradient(jax.nn.softmax((t.astype(jnp.float32) - center) / teacher_temp, axis=-1))
        for t in teacher_logits
    ]
    log_probs = [jax.nn.log_softmax(s.astype(jnp.float32) / student_temp, axis=-1) for s in student_logits]
    terms = [
        -jnp.mean(jnp.sum(target * lp, axis=-1))
        for g, target in enumerate(targets)
        for v, lp in enumerate(log_probs)
        if v != g
    ]
    return sum(terms) / len(terms)


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
