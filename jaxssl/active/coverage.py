"""Selection by covering the feature space: core-set's k-center greedy and ProbCover's ball coverage, with
ProbCover's rule for its ball radius. Rows are compared by Euclidean distance (geometry.py, in row chunks).
"""

import heapq

import jax
import jax.numpy as jnp
import numpy as np

from jaxssl.active import geometry
from jaxssl.active.inputs import check_delta, check_pool


@jax.jit
def _farthest_update(features, distance, row):
    """The distance vector after `row` joins the centres; the row itself can no longer be chosen."""
    updated = jnp.minimum(distance, geometry.distances_to(features, features[row]))
    return updated.at[row].set(-jnp.inf)


def kcenter_greedy(features, labelled, budget: int, *, return_values: bool = False):
    """(budget,) rows chosen by k-center greedy (Sener & Savarese 2018, "Active Learning for Convolutional
    Neural Networks: A Core-Set Approach", algorithm 1): with s the labelled and already chosen rows,

        u = argmax_{i not in s} min_{j in s} ||x_i - x_j||,   s <- s + {u},   budget times,

    the greedy 2-approximation of the k-center problem that their core-set bound reduces to. With no
    labelled row the first centre is the row nearest the features' mean. return_values=True: also each
    pick's distance to its nearest earlier centre (inf for that first one).

    features: (N, D); labelled: int rows already labelled (may be empty)."""
    features, labelled = check_pool(features, labelled, budget)
    x = jnp.asarray(features)
    chosen, values = [], []
    if len(labelled):
        _, distance = geometry.nearest_centre(x, x[labelled])
        distance = distance.at[labelled].set(-jnp.inf)
    else:
        first = int(jnp.argmin(geometry.distances_to(x, jnp.mean(x, axis=0))))
        chosen, values = [first], [np.inf]
        distance = _farthest_update(x, jnp.full(len(x), jnp.inf), first)
    while len(chosen) < budget:
        row = int(jnp.argmax(distance))
        chosen.append(row)
        values.append(float(distance[row]))
        distance = _farthest_update(x, distance, row)
    picks = np.asarray(chosen, np.int64)
    return (picks, np.asarray(values, np.float32)) if return_values else picks


@jax.jit
def _gain(features, uncovered, row, delta):
    """How many uncovered rows the ball of radius delta around `row` holds."""
    return jnp.sum(uncovered & (geometry.distances_to(features, features[row]) < delta))


@jax.jit
def _cover(features, uncovered, row, delta):
    return uncovered & ~(geometry.distances_to(features, features[row]) < delta)


def probcover(features, labelled, budget: int, delta: float, *, return_values: bool = False):
    """(budget,) rows chosen by ProbCover (Yehuda et al. 2022, "Active Learning Through a Covering Lens",
    algorithm 1): greedy maximum coverage of the pool by balls B(x, delta) = {x' : ||x' - x|| < delta} around
    the chosen rows, the rows within delta of a labelled row counting as covered already:

        u = argmax_{i not chosen} |B(x_i, delta) minus covered|,   covered <- covered + B(x_u, delta),

    ties to the lowest row. A gain only shrinks as coverage grows, so the greedy runs lazily (Minoux 1978): each
    row's last computed gain bounds its current one, and only the top of that bound is recomputed, which picks
    exactly what the plain greedy picks. Once every row is covered the rest are k-center greedy picks
    (kcenter_greedy). return_values=True: also each pick's gain (0 for those k-center picks).

    features: (N, D); labelled: int rows already labelled (may be empty); delta: the balls' radius,
    purity_delta's for the paper's choice."""
    features, labelled = check_pool(features, labelled, budget)
    delta = check_delta(delta)
    x = jnp.asarray(features)
    uncovered = jnp.ones(len(x), bool)
    if len(labelled):
        uncovered = geometry.nearest_centre(x, x[labelled])[1] >= delta
    gains = np.asarray(geometry.ball_counts(x, delta, uncovered))
    excluded = set(labelled.tolist())
    bounds = [(-int(gains[row]), row) for row in range(len(x)) if row not in excluded]
    heapq.heapify(bounds)
    chosen, values = [], []
    while len(chosen) < budget and bounds and bounds[0][0] < 0:
        bound, row = heapq.heappop(bounds)
        gain = int(_gain(x, uncovered, row, delta))
        if gain < -bound:
            heapq.heappush(bounds, (-gain, row))
            continue
        chosen.append(row)
        values.append(gain)
        uncovered = _cover(x, uncovered, row, delta)
    if len(chosen) < budget:
        rest = kcenter_greedy(
            features, np.concatenate([labelled, chosen]).astype(np.int64), budget - len(chosen)
        )
        chosen += rest.tolist()
        values += [0] * len(rest)
    picks = np.asarray(chosen, np.int64)
    return (picks, np.asarray(values, np.float32)) if return_values else picks


def purity_delta(features, clusters, purity: float = 0.95) -> float:
    """ProbCover's ball radius (Yehuda et al. 2022): the largest delta for which at least a
    fraction `purity` (the paper's alpha = 0.95) of the balls B(x, delta) are pure, a ball being pure when all
    its rows share x's cluster (k-means with as many clusters as classes, in the paper). B(x, delta) is pure
    exactly when delta <= d(x), the distance from x to the nearest row of another cluster, so the answer is
    the value of sorted d at floor((1 - purity) N).

    features: (N, D); clusters: (N,) int cluster of each row, at least two distinct."""
    features = np.asarray(features, np.float32)
    clusters = np.asarray(clusters)
    if clusters.shape != (len(features),) or not np.issubdtype(clusters.dtype, np.integer):
        raise ValueError(
            f"clusters must be an int cluster per row, shape ({len(features)},); got {clusters.shape}"
        )
    if len(np.unique(clusters)) < 2:
        raise ValueError("purity_delta needs at least two clusters: a ball is pure against another cluster")
    if not 0.0 < purity <= 1.0:
        raise ValueError(f"purity must lie in (0, 1], got {purity}")
    distance = np.sort(
        np.asarray(geometry.other_cluster_distance(jnp.asarray(features), jnp.asarray(clusters)))
    )
    impure = int(np.floor(round((1.0 - purity) * len(distance), 9)))  # 1 - 0.9 is 0.0999...
    return float(distance[impure])
