"""Instance discrimination against a memory bank: every image is its own class.

Wu et al. 2018, "Unsupervised Feature Learning via Non-Parametric Instance Discrimination". The memory bank
(N, D) holds one unit-norm feature per training image; a batch of features v (B, D) is scored against it.
The bank is treated as a constant (stop_gradient) and is refreshed by `memory_update` after each step. PIRL
(Misra and van der Maaten 2020) scores an image's two representations against the same bank (`pirl_nce`).
"""

import math

import jax
import jax.numpy as jnp

from jaxssl.losses.contrastive import l2_normalize


def instdisc_softmax(
    v: jax.Array,
    bank: jax.Array,
    indices: jax.Array,
    temperature: float = 0.07,
    num_examples: int | None = None,
) -> jax.Array:
    r"""Non-parametric softmax over all N memory entries, eq. (2):

        P(i | v) = exp(bank_i . v / T) / sum_{j=1..N} exp(bank_j . v / T),   L = -mean_b log P(indices_b | v_b).

    v: (B, D) features, L2-normalised here; bank: (N', D) memory, rows used as given (assumed unit norm), its
    first N = num_examples rows the examples' (all of them by default; rows past them, padding, are left out);
    indices: (B,) int, the dataset index of each example, i.e. its row in the bank.
    """
    v = l2_normalize(v.astype(jnp.float32))
    bank = jax.lax.stop_gradient(bank.astype(jnp.float32))
    logits = v @ bank.T / temperature
    if num_examples is not None and num_examples < bank.shape[0]:
        logits = jnp.where(jnp.arange(bank.shape[0]) < num_examples, logits, -jnp.inf)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, indices[:, None], axis=-1))


def instdisc_nce(
    v: jax.Array,
    bank: jax.Array,
    indices: jax.Array,
    negative_indices: jax.Array,
    temperature: float,
    log_normalizer: jax.Array | float,
    num_examples: int | None = None,
) -> jax.Array:
    r"""Noise-contrastive estimation of the non-parametric softmax, eq. (3)-(6).

    With a constant normaliser Z = exp(log_normalizer) (eq. 6, estimated once by `nce_log_normalizer`),
    P(i | v) = exp(bank_i . v / T) / Z. The m = negative_indices.shape[1] noise samples come from the uniform
    distribution P_n = 1 / N over the bank rows, and the probability that (i, v) came from the data is

        h(i, v) = P(i | v) / (P(i | v) + m P_n),                                                   (eq. 4)
        L = -mean_b [ log h(indices_b, v_b) + sum_{j in negatives_b} log(1 - h(j, v_b)) ].          (eq. 5)

    Computed in log space: log h = log P - logaddexp(log P, log(m / N)) and
    log(1 - h) = log(m / N) - logaddexp(log P, log(m / N)).

    v: (B, D) features, L2-normalised here; bank: (N', D) memory, rows used as given, its first N =
    num_examples rows the examples' (all of them by default); indices: (B,) int; negative_indices: (B, m)
    int, rows below N drawn uniformly at random by the caller.
    """
    v = l2_normalize(v.astype(jnp.float32))
    bank = jax.lax.stop_gradient(bank.astype(jnp.float32))
    num_negatives = negative_indices.shape[1]
    log_noise = math.log(num_negatives / (num_examples or bank.shape[0]))
    positive_log_p = jnp.sum(bank[indices] * v, axis=-1) / temperature - log_normalizer
    negative_log_p = jnp.einsum("bmd,bd->bm", bank[negative_indices], v) / temperature - log_normalizer
    log_h_positive = positive_log_p - jnp.logaddexp(positive_log_p, log_noise)
    log_one_minus_h_negatives = log_noise - jnp.logaddexp(negative_log_p, log_noise)
    return -jnp.mean(log_h_positive + jnp.sum(log_one_minus_h_negatives, axis=-1))


def pirl_nce(
    image_v: jax.Array,
    tile_v: jax.Array,
    bank: jax.Array,
    indices: jax.Array,
    negative_indices: jax.Array,
    temperature: float,
    log_normalizer: jax.Array | float,
    mix: float = 0.5,
    num_examples: int | None = None,
) -> jax.Array:
    r"""PIRL's loss (Misra and van der Maaten 2020, "Self-Supervised Learning of Pretext-Invariant
    Representations", eq. 5-6): the memory row m_I of each image against the representation g(v_{I^t}) of its
    jigsaw-transformed version and against its own f(v_I), with the same negatives m_{I'} from the bank,

        L_NCE(m_I, q) = -log h(m_I, q) - sum_{I' in D_N} log(1 - h(q, m_{I'})),                 (eq. 5)
        L = mix L_NCE(m_I, g(v_{I^t})) + (1 - mix) L_NCE(m_I, f(v_I)),   mix = lambda = 0.5,   (eq. 6)

    h the noise-contrastive posterior of `instdisc_nce` (InstDisc, whose bank PIRL uses): h = P / (P + m / N),
    P = exp(s / T) / Z with s the cosine similarity, m = |D_N| noise rows of the N, Z = exp(log_normalizer).
    Mean over the batch. image_v: (B, D) f(v_I); tile_v: (B, D) g(v_{I^t}); both L2-normalised here; bank,
    indices, negative_indices (B, m) and num_examples as in `instdisc_nce` (the bank is a constant).
    """

    def l_nce(v):
        return instdisc_nce(v, bank, indices, negative_indices, temperature, log_normalizer, num_examples)

    return mix * l_nce(tile_v) + (1.0 - mix) * l_nce(image_v)


def nce_log_normalizer(
    v: jax.Array,
    bank: jax.Array,
    negative_indices: jax.Array,
    temperature: float,
    num_examples: int | None = None,
) -> jax.Array:
    r"""log Z for `instdisc_nce`: the paper's one-off Monte-Carlo estimate, section 3.2, eq. (6):

        Z ~= N * mean_{b, j in negatives_b} exp(bank_j . v_b / T),

    returned as log Z (via logsumexp). v: (B, D), L2-normalised here; bank: (N', D), its first N =
    num_examples rows the examples' (all of them by default); negative_indices: (B, m), rows below N.
    The paper estimates Z from the first batch and then holds it fixed; the caller stores the value.
    """
    v = l2_normalize(v.astype(jnp.float32))
    bank = jax.lax.stop_gradient(bank.astype(jnp.float32))
    scores = jnp.einsum("bmd,bd->bm", bank[negative_indices], v) / temperature
    return math.log(num_examples or bank.shape[0]) + jax.nn.logsumexp(scores) - math.log(scores.size)


def memory_update(bank: jax.Array, indices: jax.Array, v: jax.Array, momentum: float = 0.5) -> jax.Array:
    r"""Moves the memory rows of the batch's examples towards their new features, section 3.2 and 3.4:

        bank_i <- normalize(momentum * bank_i + (1 - momentum) * normalize(v_b))   for i = indices_b,

    every other row unchanged. v is under stop_gradient. If an index repeats within the batch, the scatter
    keeps one of its updates, and which one is unspecified (XLA leaves the order of duplicate writes open).
    """
    bank = jnp.asarray(bank)
    v = l2_normalize(jax.lax.stop_gradient(v.astype(jnp.float32)))
    moved = l2_normalize(momentum * bank[indices].astype(jnp.float32) + (1.0 - momentum) * v)
    return bank.at[indices].set(moved.astype(bank.dtype))
