"""Contrastive losses with in-batch negatives."""

import jax
import jax.numpy as jnp


def l2_normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
    """x / max(||x||, eps) along `axis`."""
    norm = jnp.sqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
    return x / jnp.maximum(norm, eps)


def nt_xent(z1: jax.Array, z2: jax.Array, temperature: float) -> jax.Array:
    r"""SimCLR's normalized temperature-scaled cross entropy over the global batch.

    Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations", eq. (1).
    With the 2N embeddings u = normalize([z1; z2]) and s_ij = u_i . u_j / temperature, each anchor i has
    one positive j(i) (the other view of the same image) and the 2N - 2 other views as negatives:

        l_i = -log( exp(s_{i,j(i)}) / sum_{k != i} exp(s_ik) ),      loss = mean_i l_i over all 2N anchors.

    z1, z2: (N, D) projections of the two views; row n of each comes from the same image. Written for one
    global array: under jit over a sharded batch the negatives span the whole global batch.
    """
    num_pairs = z1.shape[0]
    embeddings = l2_normalize(jnp.concatenate([z1, z2], axis=0).astype(jnp.float32))
    logits = embeddings @ embeddings.T / temperature
    self_mask = jnp.eye(2 * num_pairs, dtype=bool)
    logits = jnp.where(self_mask, -jnp.inf, logits)
    positives = jnp.concatenate([jnp.arange(num_pairs) + num_pairs, jnp.arange(num_pairs)])
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, positives[:, None], axis=-1))


def info_nce(
    q: jax.Array, k: jax.Array, queue: jax.Array | None = None, temperature: float = 0.2
) -> jax.Array:
    r"""InfoNCE: each query must pick out its own key among negatives, as in MoCo and its descendants.

    With a queue, He et al. 2020, "Momentum Contrast for Unsupervised Visual Representation Learning",
    eq. (1): the positive is the key of the same image and the K queued keys are the negatives,

        l_n = -log( exp(q_n . k_n / T) / (exp(q_n . k_n / T) + sum_j exp(q_n . queue_j / T)) ).

    Without a queue, Chen et al. 2021, "An Empirical Study of Training Self-Supervised Vision Transformers"
    (MoCo v3), algorithm 1, and Dwibedi et al. 2021 (NNCLR), eq. (2): the other keys of the batch are the
    negatives, logits = q k^T / T (N x N) and row n has label n.

    q, k: (N, D); queue: (K, D) or None. All three are L2-normalised here; loss = mean_n l_n. Nothing is
    stop-gradiented here: callers stop the gradient into k (and the queue) themselves. Written for one global
    array, so under jit over a sharded batch the in-batch negatives span the whole global batch.
    """
    q = l2_normalize(q.astype(jnp.float32))
    k = l2_normalize(k.astype(jnp.float32))
    if queue is None:
        log_probs = jax.nn.log_softmax(q @ k.T / temperature, axis=-1)
        return -jnp.mean(jnp.diagonal(log_probs))
    queue = l2_normalize(queue.astype(jnp.float32))
    positive = jnp.sum(q * k, axis=-1, keepdims=True)
    logits = jnp.concatenate([positive, q @ queue.T], axis=-1) / temperature
    return -jnp.mean(jax.nn.log_softmax(logits, axis=-1)[:, 0])


def nearest_neighbours(z: jax.Array, support: jax.Array) -> jax.Array:
    r"""For each row of z, its nearest neighbour in the support set, normalised and without gradient.

    Dwibedi et al. 2021, "With a Little Help from My Friends: Nearest-Neighbor Contrastive Learning of Visual
    Representations" (NNCLR), eq. (1): NN(z, Q) = argmin_{q in Q} ||z - q||_2 on normalised vectors, which is
    the support row of highest cosine similarity.

    z: (N, D); support: (Q, D). Returns (N, D): the L2-normalised support rows, under stop_gradient.
    """
    z = l2_normalize(z.astype(jnp.float32))
    support = l2_normalize(support.astype(jnp.float32))
    nearest = jnp.argmax(z @ support.T, axis=-1)
    return jax.lax.stop_gradient(support[nearest])


def cpc_info_nce(predictions: jax.Array, patch_vectors: jax.Array) -> jax.Array:
    r"""CPC's InfoNCE over a patch grid (van den Oord et al. 2018, eq. 4; Hénaff et al. 2020, eq. 1-3).

    patch_vectors z: (B, G, G, D), the encoder's vector of each patch (row i, column j) of each image;
    predictions: (B, G, G, K, D), for each context position (i, j) and offset k = 1..K the prediction
    W_k c_{i,j} of the patch k rows below, z_{i+k,j}. Every prediction with a target inside the grid
    (i + k < G) is scored against all B G G patch vectors of the global batch (its target the positive, every
    other patch, of the same image or another, a negative):

        l = -log( exp(zhat . z_{b,i+k,j}) / sum_{b',i',j'} exp(zhat . z_{b',i',j'}) ),

    and the loss is the mean of l over all of them (every offset weighing by its number of predictions).
    Float32, one global array: under jit over a sharded batch the negatives span the whole global batch.
    """
    batch, grid, _, offsets, _ = predictions.shape
    candidates = patch_vectors.astype(jnp.float32).reshape(batch * grid * grid, -1)
    index = jnp.arange(batch * grid * grid).reshape(batch, grid, grid)
    terms = []
    for k in range(1, offsets + 1):
        queries = predictions[:, : grid - k, :, k - 1].astype(jnp.float32).reshape(-1, candidates.shape[1])
        targets = index[:, k:, :].reshape(-1)
        log_probs = jax.nn.log_softmax(queries @ candidates.T, axis=-1)
        terms.append(-jnp.take_along_axis(log_probs, targets[:, None], axis=-1)[:, 0])
    return jnp.mean(jnp.concatenate(terms))


def batch_hard_triplet(embeddings: jax.Array, margin: float = 0.0, soft: bool = True) -> jax.Array:
    r"""The triplet loss over augmented copies of each image: S4L-Exemplar's self-supervised loss
    (Zhai et al. 2019, "S4L: Self-Supervised Semi-Supervised Learning", section 3.2), the "batch hard" loss of
    Hermans, Beyer and Leibe 2017, "In Defense of the Triplet Loss for Person Re-Identification", with each
    image its own identity.

    embeddings: (N, K, D), K copies of each of N images, L2-normalised here (as S4L's released code does). Every
    copy a of the N K is an anchor, scored by its farthest copy of the same image and its nearest copy of any
    other image of the global batch, in Euclidean distance d:

        d+_a = max_{p != a, same image} d(a, p),    d-_a = min_{n of another image} d(a, n),
        l_a = softplus(margin + d+_a - d-_a)  (soft, the soft margin S4L uses with margin 0),
        l_a = max(0, margin + d+_a - d-_a)    (the hinge),

    loss = mean_a l_a. d = sqrt(max(|a|^2 + |b|^2 - 2 a.b, 1e-12)), so that no gradient is infinite at 0.
    """
    num_images, copies, _ = embeddings.shape
    flat = l2_normalize(embeddings.astype(jnp.float32)).reshape(num_images * copies, -1)
    squared_norms = jnp.sum(jnp.square(flat), axis=-1)
    squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * flat @ flat.T
    distances = jnp.sqrt(jnp.maximum(squared, 1e-12))
    image = jnp.repeat(jnp.arange(num_images), copies)
    same_image = image[:, None] == image[None, :]
    positives = same_image & ~jnp.eye(num_images * copies, dtype=bool)
    hardest_positive = jnp.max(jnp.where(positives, distances, -jnp.inf), axis=-1)
    hardest_negative = jnp.min(jnp.where(same_image, jnp.inf, distances), axis=-1)
    violation = margin + hardest_positive - hardest_negative
    return jnp.mean(jax.nn.softplus(violation) if soft else jax.nn.relu(violation))
