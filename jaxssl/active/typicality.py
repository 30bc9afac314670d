"""TypiClust (Hacohen, Dekel & Weinshall 2022, "Active Learning on a Budget: Opposite Strategies Suit High and
Low Budgets"): the most typical row of each of the largest clusters that hold no label yet."""

import numpy as np

from jaxssl.active import geometry
from jaxssl.active.inputs import check_pool


def typicality(features: np.ndarray, k_neighbours: int) -> np.ndarray:
    """(n,) Typicality(x) = (1/K sum_{x_i in K-NN(x)} ||x - x_i||)^-1 (Hacohen et al. 2022), the K nearest
    neighbours taken among the rows of `features` (one cluster's), K = min(k_neighbours, n - 1); inf for a
    row with a neighbour at distance 0 or no neighbour at all."""
    distance = geometry.mean_neighbour_distance(features, k_neighbours)
    with np.errstate(divide="ignore"):
        return 1.0 / distance


def next_cluster(sizes: np.ndarray, labelled_counts: np.ndarray, available: np.ndarray) -> int:
    """The cluster to take a row from: among those with an unlabelled row left, the fewest labelled rows, then
    the most rows, then the lowest index. With len(labelled) + budget clusters this is the paper's "largest
    cluster holding no labelled row" until every cluster holds one."""
    order = np.lexsort((np.arange(len(sizes)), -sizes, labelled_counts))
    return int(next(cluster for cluster in order if available[cluster]))


def typiclust(features, labelled, budget: int, *, seed, k_neighbours: int = 20, return_values: bool = False):
    """(budget,) rows chosen by TypiClust (Hacohen et al. 2022):

    1. k-means (geometry.kmeans, k-means++ from `seed`) into len(labelled) + budget clusters;
    2. budget times: the largest cluster that holds no labelled or chosen row (next_cluster), and in it the
       unlabelled row of highest typicality (typicality, K = k_neighbours within the cluster).

    return_values=True: also each pick's typicality.

    features: (N, D); labelled: int rows already labelled (may be empty); seed: an int, or anything
    np.random.default_rng takes."""
    features, labelled = check_pool(features, labelled, budget)
    if not isinstance(k_neighbours, int) or k_neighbours < 1:
        raise ValueError(f"k_neighbours must be an int >= 1, got {k_neighbours!r}")
    clusters_count = len(labelled) + budget
    clusters, _ = geometry.kmeans(features, clusters_count, seed=seed)
    sizes = np.bincount(clusters, minlength=clusters_count)
    is_labelled = np.zeros(len(features), bool)
    is_labelled[labelled] = True
    labelled_counts = np.bincount(clusters[labelled], minlength=clusters_count)
    chosen, values = [], []
    for _ in range(budget):
        available = np.bincount(clusters[~is_labelled], minlength=clusters_count) > 0
        cluster = next_cluster(sizes, labelled_counts, available)
        members = np.flatnonzero(clusters == cluster)
        scores = typicality(features[members], k_neighbours)
        scores[is_labelled[members]] = -np.inf
        best = int(np.argmax(scores))
        row = int(members[best])
        chosen.append(row)
        values.append(float(scores[best]))
        is_labelled[row] = True
        labelled_counts[cluster] += 1
    picks = np.asarray(chosen, np.int64)
    return (picks, np.asarray(values, np.float32)) if return_values else picks
