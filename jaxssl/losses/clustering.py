"""Clustering losses: SwAV's swapped prediction of Sinkhorn codes, DeepCluster-v2's k-means targets and MSN's
prototype assignments of masked views."""

import jax
import jax.numpy as jnp

from jaxssl.losses.contrastive import l2_normalize


def sinkhorn(scores: jax.Array, epsilon: float = 0.05, iterations: int = 3) -> jax.Array:
    r"""SwAV's equipartitioned soft codes, by the Sinkhorn-Knopp algorithm.

    Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments",
    section 3.1, eq. (3) and appendix A.1. The codes Q* = Diag(u) exp(C^T Z / epsilon) Diag(v) solve
    max_Q Tr(Q^T C^T Z) + epsilon H(Q) over the transportation polytope whose K rows (prototypes) sum to
    1/K and whose B columns (examples) sum to 1/B. Starting from Q = exp(scores / epsilon)^T / sum, each
    iteration rescales the rows to 1/K, then the columns to 1/B; the result, times B, is returned
    transposed, so each example's row of codes sums to 1 and each prototype receives about B / K.

    scores: (B, K) similarities of the B examples of the global batch (queued features may be appended as
    extra rows) to the K prototypes. The global max is subtracted before exp (it cancels in the
    normalisation). Returns the (B, K) codes under stop_gradient.
    """
    scores = scores.astype(jnp.float32)
    num_examples, num_prototypes = scores.shape
    q = jnp.exp((scores - jnp.max(scores)) / epsilon).T
    q = q / jnp.sum(q)

    def rescale_rows_then_columns(_, q):
        q = q / jnp.sum(q, axis=1, keepdims=True) / num_prototypes
        return q / jnp.sum(q, axis=0, keepdims=True) / num_examples

    q = jax.lax.fori_loop(0, iterations, rescale_rows_then_columns, q)
    return jax.lax.stop_gradient((q * num_examples).T)


def swav(scores: list[jax.Array], codes: list[jax.Array], temperature: float = 0.1) -> jax.Array:
    r"""SwAV's swapped prediction loss with multi-crop.

    Caron et al. 2020, eq. (1)-(2) and section 3.2: the code q_a of one crop is predicted from every other
    crop v through p_v = softmax(z_v . C / temperature),

        l(z_v, q_a) = - sum_k q_a^(k) log p_v^(k),
        loss = mean_{a < A} mean_{v != a} mean_b l(z_{v,b}, q_{a,b}).

    scores: V arrays (B, K) of prototype scores z_v . c_k (both normalised), one per crop; codes: A <= V
    arrays (B, K), the Sinkhorn codes of the first A crops (the global crops used for assignment). The codes
    are held under stop_gradient; needs V >= 2.
    """
    log_probs = [jax.nn.log_softmax(s.astype(jnp.float32) / temperature, axis=-1) for s in scores]
    per_code = []
    for a, code in enumerate(codes):
        code = jax.lax.stop_gradient(code.astype(jnp.float32))
        terms = [-jnp.mean(jnp.sum(code * lp, axis=-1)) for v, lp in enumerate(log_probs) if v != a]
        per_code.append(sum(terms) / len(terms))
    return sum(per_code) / len(per_code)


def spherical_kmeans(
    x: jax.Array, centroids: jax.Array, iterations: int, num_rows: int | None = None
) -> tuple[jax.Array, jax.Array]:
    r"""k-means with cosine similarity on the unit sphere, as DeepCluster-v2 clusters its memory bank.

    Caron et al. 2020, appendix (DeepCluster-v2): rows of x and the centroids are L2-normalised; each
    iteration assigns row n to argmax_k x_n . c_k, then sets c_k = normalize(mean of its rows). A cluster
    that receives no row keeps its previous centroid. Static shapes and a fori_loop: fully jittable.

    x: (N', D) embeddings, of which the first N = num_rows are clustered (all of them by default: a memory's
    rows past its examples are padding); centroids: (K, D) initial centroids (normalised here). Returns the
    final (K, D) unit-norm centroids and the (N',) int32 assignment of each row to them, -1 past row N.
    """
    x = l2_normalize(x.astype(jnp.float32))
    num_clusters = centroids.shape[0]
    clustered = jnp.arange(x.shape[0]) < (x.shape[0] if num_rows is None else num_rows)

    def assign(centroids):
        return jnp.where(clustered, jnp.argmax(x @ centroids.T, axis=-1), -1).astype(jnp.int32)

    def update(_, centroids):
        members = jax.nn.one_hot(assign(centroids), num_clusters, dtype=jnp.float32)  # -1: a row of zeros
        sums = members.T @ x
        counts = jnp.sum(members, axis=0)
        return jnp.where(counts[:, None] > 0, l2_normalize(sums), centroids)

    centroids = jax.lax.fori_loop(0, iterations, update, l2_normalize(centroids.astype(jnp.float32)))
    return centroids, assign(centroids)


def deepcluster_v2(
    scores: list[list[jax.Array]], assignments: list[jax.Array], temperature: float = 0.1
) -> jax.Array:
    r"""DeepCluster-v2's cross entropy against k-means pseudo-labels, with several clustering heads.

    Caron et al. 2020, appendix (DeepCluster-v2): for each head h with centroids C_h and each crop v,

        loss = mean_h mean_v mean_{b : y_hb >= 0} - log softmax(z_vb . C_h / temperature)_{y_hb}.

    scores: per head, per crop, (B, K_h) scores of normalised embeddings against normalised centroids;
    assignments: per head, (B,) int32 cluster targets, -1 for rows without an assignment yet. Those rows
    are left out of the mean; a head with no assigned row contributes 0.
    """
    per_head = []
    for head_scores, targets in zip(scores, assignments, strict=True):
        assigned = targets >= 0
        safe_targets = jnp.where(assigned, targets, 0)[:, None]
        count = jnp.maximum(jnp.sum(assigned), 1)
        per_crop = []
        for crop_scores in head_scores:
            log_probs = jax.nn.log_softmax(crop_scores.astype(jnp.float32) / temperature, axis=-1)
            nll = -jnp.take_along_axis(log_probs, safe_targets, axis=-1)[:, 0]
            per_crop.append(jnp.sum(jnp.where(assigned, nll, 0.0)) / count)
        per_head.append(sum(per_crop) / len(per_crop))
    return sum(per_head) / len(per_head)


def msn_targets(
    target_scores: jax.Array, temperature: float = 0.025, sinkhorn_iterations: int = 0
) -> jax.Array:
    r"""MSN's target assignments: the target view's prototype scores, sharpened, optionally balanced.

    Assran et al. 2022, "Masked Siamese Networks for Label-Efficient Learning", section 3: p+ =
    softmax(z+ . q / tau+) with a target temperature tau+ below the anchors' (0.025 against 0.1), so the
    targets are sharper than the predictions. With sinkhorn_iterations > 0 the same exp(z+ . q / tau+) is
    balanced over the global batch by Sinkhorn-Knopp (`sinkhorn` with epsilon = tau+), each prototype then
    receiving about B / K of the mass.

    target_scores: (B, K) cosine similarities of the target views' projections to the K prototypes. Returns
    the (B, K) targets, rows summing to 1, under stop_gradient.
    """
    scores = target_scores.astype(jnp.float32)
    if sinkhorn_iterations:
        return sinkhorn(scores, temperature, sinkhorn_iterations)
    return jax.lax.stop_gradient(jax.nn.softmax(scores / temperature, axis=-1))


def msn(
    anchor_scores: list[jax.Array], targets: jax.Array, temperature: float = 0.1, me_max_weight: float = 1.0
) -> jax.Array:
    r"""MSN's loss: cross-entropy from the targets to every anchor view, minus the mean-entropy regulariser.

    Assran et al. 2022, section 3 (the objective and its me-max regulariser): for B images, M anchor views
    each (the masked view and the focal views), p_{i,m} = softmax(z_{i,m} . q / tau) and the targets p+_i
    (`msn_targets`),

        L = 1/(M B) sum_i sum_m H(p+_i, p_{i,m}) - lambda H(p_bar),   p_bar = 1/(M B) sum_i sum_m p_{i,m},

    with H(p, q) = -sum_k p_k log q_k and H(p) = H(p, p). Maximising the entropy of the mean prediction
    (me-max) spreads the anchors over the prototypes; the cross-entropy makes each confident.

    anchor_scores: M arrays (B, K) of cosine similarities of the anchor views' projections to the prototypes;
    targets: (B, K), held under stop_gradient; me_max_weight: lambda.
    """
    targets = jax.lax.stop_gradient(targets.astype(jnp.float32))
    log_probs = [jax.nn.log_softmax(s.astype(jnp.float32) / temperature, axis=-1) for s in anchor_scores]
    cross_entropy = sum(-jnp.mean(jnp.sum(targets * lp, axis=-1)) for lp in log_probs) / len(log_probs)
    mean_prediction = jnp.mean(jnp.concatenate([jnp.exp(lp) for lp in log_probs]), axis=0)
    mean_entropy = -jnp.sum(mean_prediction * jnp.log(mean_prediction))
    return cross_entropy - me_max_weight * mean_entropy
