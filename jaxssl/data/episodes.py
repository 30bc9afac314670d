"""N-way K-shot episodes (Vinyals et al. 2016, section 4; Snell et al. 2017, section 2.2): `ways` classes
drawn from a class list, then `shots` support rows and `queries` query rows of each, disjoint.

An episode is a pure NumPy function of its seed and arguments, so an evaluation's episode e is the same
on every machine and a trainer's episode at step t is the same after a resume. Rows are ordered class by
class in the order the episode drew its classes: the support label of row i is i // shots, the query label
of row i is i // queries (episode_labels), the position of its class in episode_classes.
"""

import numpy as np


def check_episode(labels: np.ndarray, classes, ways: int, shots: int, queries: int) -> None:
    """ValueError, one line, when the episode cannot be drawn: an empty or repeated class list, fewer
    classes than ways, non-positive counts, or a class with fewer than shots + queries rows."""
    classes = [int(c) for c in classes]
    if not classes:
        raise ValueError("an episode needs a non-empty class list to draw its classes from")
    if len(set(classes)) != len(classes):
        raise ValueError(f"the episode class list {classes} repeats a class")
    if ways < 1 or shots < 1 or queries < 0:
        raise ValueError(
            f"an episode needs ways >= 1, shots >= 1, queries >= 0; got {ways}, {shots}, {queries}"
        )
    if ways > len(classes):
        raise ValueError(
            f"{ways}-way episodes need {ways} classes; the class list {classes} has {len(classes)}"
        )
    counts = np.bincount(np.asarray(labels)[np.asarray(labels) >= 0], minlength=max(classes) + 1)
    short = [c for c in classes if c < 0 or counts[c] < shots + queries]
    if short:
        raise ValueError(
            f"{shots} shots + {queries} queries per class need {shots + queries} rows of each class; class "
            f"{short[0]} has {counts[short[0]] if short[0] >= 0 else 0}"
        )


def episode_classes(seed, classes, ways: int) -> np.ndarray:
    """The `ways` classes of an episode, drawn without replacement from `classes` by the seed (an int or a
    tuple of ints, e.g. (seed, episode)), in the order drawn."""
    return _draw_classes(np.random.default_rng(seed), classes, ways)


def _draw_classes(rng: np.random.Generator, classes, ways: int) -> np.ndarray:
    classes = np.asarray(classes, np.int64)
    return classes[rng.permutation(len(classes))[:ways]]


def sample_episode(
    seed, labels: np.ndarray, classes, ways: int, shots: int, queries: int
) -> tuple[np.ndarray, np.ndarray]:
    """(support indices (ways x shots,), query indices (ways x queries,)) into `labels` of the episode drawn
    by `seed` (an int or a tuple of ints such as (seed, episode)): episode_classes(seed, classes, ways), then
    per class a random draw of shots + queries of its rows, the first `shots` the support and the rest the
    queries, so a class's support and query rows are disjoint. Ordered class by class (see the module
    docstring; episode_labels gives the labels)."""
    check_episode(labels, classes, ways, shots, queries)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    support, query = [], []
    for label in _draw_classes(rng, classes, ways):
        members = np.flatnonzero(labels == label)
        rows = members[rng.choice(len(members), shots + queries, replace=False)]
        support.append(rows[:shots])
        query.append(rows[shots:])
    return np.concatenate(support).astype(np.int64), np.concatenate(query).astype(np.int64)


def episode_labels(ways: int, count: int) -> np.ndarray:
    """The episode labels 0 .. ways-1 of rows ordered class by class, `count` rows per class (int32)."""
    return np.repeat(np.arange(ways, dtype=np.int32), count)


def step_episodes(
    seed: int, step: int, count: int, labels: np.ndarray, classes, ways: int, shots: int, queries: int
) -> tuple[np.ndarray, np.ndarray]:
    """(support (count, ways x shots), query (count, ways x queries)) indices of the `count` episodes of a
    training step: episode b of step t is sample_episode((seed, step, b), ...), a pure function of (seed,
    step), so a resumed run draws the same episodes and the processes of a pod can each take a slice of b."""
    check_episode(labels, classes, ways, shots, queries)
    drawn = [sample_episode((seed, step, b), labels, classes, ways, shots, queries) for b in range(count)]
    return np.stack([s for s, _ in drawn]), np.stack([q for _, q in drawn])
