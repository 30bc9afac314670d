"""Distances and k-means over a pool of feature rows, computed in chunks of rows.

Every pairwise quantity (nearest centre, rows inside a ball, nearest row of another cluster, nearest
neighbours) is a jitted map over chunks of rows against all columns, so that at most a chunk x columns
float32 matrix (CHUNK_ELEMENTS, 64 MiB) exists at once: a 60,000-row pool never builds its 60,000 x 60,000
distances. Distances are Euclidean, ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b clipped at 0.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

CHUNK_ELEMENTS = 2**24  # float32 entries of one chunk's matrix (64 MiB)


def squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
    """(n, m) squared Euclidean distances between the rows of a (n, D) and b (m, D)."""
    squared = jnp.sum(a * a, axis=1)[:, None] + jnp.sum(b * b, axis=1)[None, :] - 2.0 * a @ b.T
    return jnp.maximum(squared, 0.0)


def distances_to(features: jax.Array, point: jax.Array) -> jax.Array:
    """(N,) Euclidean distances of every row of `features` to one (D,) point."""
    return jnp.sqrt(squared_distances(features, point[None, :])[:, 0])


@functools.partial(jax.jit, static_argnames=("fn", "chunk", "options"))
def _chunked(fn, chunk: int, rows: tuple, shared: tuple, options: tuple):
    """fn(chunk of each array of `rows`, *shared, *options) over row chunks of `chunk` rows (rows already
    padded to a multiple of it), the chunks' outputs concatenated."""
    stacked = tuple(x.reshape(-1, chunk, *x.shape[1:]) for x in rows)
    outputs = jax.lax.map(lambda part: fn(*part, *shared, *options), stacked)
    return jax.tree.map(lambda y: y.reshape(-1, *y.shape[2:]), outputs)


def map_rows(fn, rows: tuple, shared: tuple, columns: int, options: tuple = ()):
    """fn(row chunk..., *shared, *options) for every chunk of the arrays `rows` (all with the same number of
    rows), each chunk's matrix against `columns` columns kept under CHUNK_ELEMENTS; `options` are static
    (Python values). Outputs are per row, padding dropped."""
    count = rows[0].shape[0]
    chunk = max(1, min(count, CHUNK_ELEMENTS // max(columns, 1)))
    padding = -count % chunk
    padded = tuple(jnp.pad(x, [(0, padding)] + [(0, 0)] * (x.ndim - 1)) for x in rows)
    outputs = _chunked(fn, chunk, padded, shared, options)
    return jax.tree.map(lambda y: y[:count], outputs)


def _nearest(rows, centres):
    squared = squared_distances(rows, centres)
    return jnp.argmin(squared, axis=1), jnp.min(squared, axis=1)


def nearest_centre(features: jax.Array, centres: jax.Array) -> tuple[jax.Array, jax.Array]:
    """((N,) index of each row's nearest centre, (N,) its Euclidean distance)."""
    index, squared = map_rows(_nearest, (features,), (centres,), len(centres))
    return index, jnp.sqrt(squared)


def _ball_counts(rows, columns, radius):
    return jnp.sum(squared_distances(rows, columns) < radius * radius, axis=1)


def ball_counts(features: jax.Array, radius: float, counted) -> jax.Array:
    """(N,) for each row, how many `counted` rows (a (N,) bool mask) lie at distance < radius of it; only the
    counted rows are compared, so the pass shrinks as they do."""
    columns = features[np.flatnonzero(np.asarray(counted))]
    if not len(columns):
        return jnp.zeros(len(features), jnp.int32)
    return map_rows(_ball_counts, (features,), (columns, jnp.float32(radius)), len(columns))


def _other_cluster_distance(rows, row_clusters, features, clusters):
    squared = squared_distances(rows, features)
    other = row_clusters[:, None] != clusters[None, :]
    return jnp.sqrt(jnp.min(jnp.where(other, squared, jnp.inf), axis=1))


def other_cluster_distance(features: jax.Array, clusters: jax.Array) -> jax.Array:
    """(N,) distance of each row to the nearest row of another cluster (inf when there is none)."""
    return map_rows(_other_cluster_distance, (features, clusters), (features, clusters), len(features))


def _mean_neighbour_distance(rows, row_index, features, valid, k):
    squared = squared_distances(rows, features)
    others = valid[None, :] & (row_index[:, None] != jnp.arange(len(features))[None, :])
    nearest = -jax.lax.top_k(-jnp.where(others, squared, jnp.inf), k)[0]
    found = jnp.isfinite(nearest)
    total = jnp.sum(jnp.where(found, jnp.sqrt(jnp.where(found, nearest, 0.0)), 0.0), axis=1)
    return total / jnp.maximum(jnp.sum(found, axis=1), 1)


def mean_neighbour_distance(features: np.ndarray, k: int) -> np.ndarray:
    """(n,) mean Euclidean distance of each row to its k nearest other rows of `features` (all of them when
    there are fewer; 0 for a single row). The rows are padded to a power of two, so that clusters of many
    sizes share a few compiled shapes."""
    count = len(features)
    size = 1 << max(count - 1, 1).bit_length()
    padded = np.zeros((size, features.shape[1]), np.float32)
    padded[:count] = features
    valid = jnp.arange(size) < count
    distances = map_rows(
        _mean_neighbour_distance,
        (jnp.asarray(padded), jnp.arange(size)),
        (jnp.asarray(padded), valid),
        size,
        options=(min(k, size),),
    )
    return np.asarray(distances[:count])


@functools.partial(jax.jit, static_argnames=("k",))
def _lloyd_update(features, assignment, centres, k: int):
    """Each centre moved to the mean of its rows; a centre that lost every row stays where it was."""
    sums = jax.ops.segment_sum(features, assignment, num_segments=k)
    counts = jax.ops.segment_sum(jnp.ones(len(features)), assignment, num_segments=k)
    return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1)[:, None], centres)


def kmeans_plus_plus(features: jax.Array, k: int, seed) -> jax.Array:
    """k initial centres, rows of `features`, by greedy k-means++ (Arthur & Vassilvitskii 2007, "k-means++",
    with the greedy seeding scikit-learn uses): the first uniformly, then each next one the best
    of 2 + floor(ln k) candidates drawn with probability proportional to their squared distance D(x)^2 to the
    nearest centre so far, best meaning the smallest sum of D^2 once it is added. Draws from
    np.random.default_rng(seed)."""
    rng = np.random.default_rng(seed)
    tries = 2 + int(np.log(k))
    chosen = [int(rng.integers(len(features)))]
    squared = jnp.square(distances_to(features, features[chosen[0]]))
    for _ in range(k - 1):
        weights = np.asarray(squared, np.float64)
        total = weights.sum()
        candidates = (
            rng.choice(len(weights), size=tries, p=weights / total)
            if total > 0
            else rng.integers(len(weights), size=tries)
        )
        updated = [
            jnp.minimum(squared, jnp.square(distances_to(features, features[row]))) for row in candidates
        ]
        best = int(np.argmin([float(jnp.sum(option)) for option in updated]))
        chosen.append(int(candidates[best]))
        squared = updated[best]
    return features[np.asarray(chosen)]


def kmeans(features, k: int, *, seed, iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(the (N,) cluster of each row, the (k, D) centres) of Lloyd's k-means (Lloyd 1982) from k-means++
    centres: rows assigned to their nearest centre, centres moved to their rows' mean, until no row changes
    cluster or after `iterations` updates."""
    features = jnp.asarray(features, jnp.float32)
    if not 1 <= k <= len(features):
        raise ValueError(f"k-means into {k} clusters needs 1 <= k <= {len(features)} rows")
    centres = kmeans_plus_plus(features, k, seed)
    assignment, _ = nearest_centre(features, centres)
    for _ in range(iterations):
        centres = _lloyd_update(features, assignment, centres, k)
        updated, _ = nearest_centre(features, centres)
        if bool(jnp.all(updated == assignment)):
            break
        assignment = updated
    return np.asarray(assignment), np.asarray(centres)
