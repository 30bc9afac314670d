"""Which rows of the source the global batch of a step holds. example_indices: every example once per epoch,
in that epoch's permutation. A batch of parts: blocks of consecutive rows, each drawn from its own rows of the
source in its own epochs, showing the source's labels or its own (-1 where a run may not use one). One part
over the whole source is the batch every run had before parts existed; a semi-supervised batch is a labelled
and an unlabelled part (subsets.semisupervised_parts). A batch of episodes (`Episodes`): N-way K-shot episodes
of the source's classes, drawn anew for each step, for the methods trained on them."""

import dataclasses
import functools

import numpy as np

from jaxssl.data import episodes as episodes_lib


@functools.lru_cache(maxsize=8)
def _epoch_permutation(seed: int, epoch: int, num_examples: int, stream: int = 0) -> np.ndarray:
    rng_key = (seed, epoch) if stream == 0 else (seed, epoch, stream)
    permutation = np.random.default_rng(rng_key).permutation(num_examples)
    permutation.flags.writeable = False
    return permutation


def example_indices(
    step: int, *, num_examples: int, global_batch: int, seed: int, stream: int = 0
) -> np.ndarray:
    """Example indices (global_batch,) int64 of the global batch of `step`.

    Global position p = step * global_batch + j falls in epoch p // num_examples and takes entry
    p % num_examples of that epoch's permutation, a pure function of (seed, epoch) (and of `stream` > 0, the
    part of a batch of several parts): every example is seen once per epoch, and a batch may straddle two
    epochs.
    """
    if step < 0 or seed < 0 or num_examples < 1 or global_batch < 1:
        raise ValueError(
            f"need step >= 0, seed >= 0, num_examples >= 1, global_batch >= 1; got step={step}, "
            f"seed={seed}, num_examples={num_examples}, global_batch={global_batch}"
        )
    positions = int(step) * global_batch + np.arange(global_batch, dtype=np.int64)
    epochs, offsets = np.divmod(positions, num_examples)
    indices = np.empty(global_batch, np.int64)
    for epoch in np.unique(epochs):
        in_epoch = epochs == epoch
        permutation = _epoch_permutation(int(seed), int(epoch), int(num_examples), int(stream))
        indices[in_epoch] = permutation[offsets[in_epoch]]
    return indices


@dataclasses.dataclass(frozen=True, eq=False)
class Part:
    """One block of `batch` consecutive rows of every global batch, drawn from its own rows of the source.

    indices: the source rows this part draws from (None: all of them; an index may repeat, as Noisy Student
    duplicates the rows of rare classes); labels: the labels its rows show, one per entry of `indices`
    (None: the source's own; -1 where the run may not use a label); soft_labels: float (entries, classes)
    class distributions its rows carry as targets (a teacher's pseudo-labels), or None. A semi-supervised
    batch is (Part(B_l, indices=labelled rows), Part(mu B_l, labels=all -1)): each part walks its own epochs.
    """

    batch: int
    indices: np.ndarray | None = None
    labels: np.ndarray | None = None
    soft_labels: np.ndarray | None = None

    def size(self, num_examples: int) -> int:
        """How many source rows the part draws from."""
        return num_examples if self.indices is None else len(self.indices)


def _part_positions(step: int, parts: tuple[Part, ...], num_examples: int, seed: int):
    """(part, positions in the part's entries) of each part's block of the batch of `step`: part k walks its
    own epochs (stream k)."""
    for stream, part in enumerate(parts):
        positions = example_indices(
            step, num_examples=part.size(num_examples), global_batch=part.batch, seed=seed, stream=stream
        )
        yield part, positions


def batch_rows(
    step: int, *, parts: tuple[Part, ...], labels: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(source indices, shown labels), each (sum of the parts' batches,), of the global batch of `step`: part
    k fills its block of rows from its own epochs (stream k; one part over the whole source is
    example_indices exactly, so every earlier run keeps its batches)."""
    indices, shown = [], []
    for part, positions in _part_positions(step, parts, len(labels), seed):
        rows = positions if part.indices is None else np.asarray(part.indices)[positions]
        indices.append(rows)
        shown.append(labels[rows] if part.labels is None else np.asarray(part.labels)[positions])
    return np.concatenate(indices), np.concatenate(shown).astype(np.int32)


def batch_soft_labels(
    step: int, *, parts: tuple[Part, ...], num_examples: int, num_classes: int, seed: int
) -> np.ndarray:
    """float32 (global batch, num_classes) targets of the batch of `step`, row for row with batch_rows: a
    part's soft labels where it carries them, zeros elsewhere (rows trained on their labels, if any)."""
    blocks = []
    for part, positions in _part_positions(step, parts, num_examples, seed):
        if part.soft_labels is None:
            blocks.append(np.zeros((part.batch, num_classes), np.float32))
        else:
            blocks.append(np.asarray(part.soft_labels, np.float32)[positions])
    return np.concatenate(blocks)


def soft_label_classes(parts: tuple[Part, ...]) -> int:
    """How many classes the parts' soft labels cover; 0 when no part carries any."""
    return max((np.shape(part.soft_labels)[1] for part in parts if part.soft_labels is not None), default=0)


def check_parts(parts: tuple[Part, ...], global_batch: int, num_examples: int) -> None:
    """The parts fill the global batch, each draws from rows of the source, and shows one label (and one
    soft label of the parts' common classes, where it carries them) per entry."""
    if sum(part.batch for part in parts) != global_batch or any(part.batch < 1 for part in parts):
        raise ValueError(
            f"the parts' batches {[part.batch for part in parts]} must be >= 1 and add up to the global "
            f"batch {global_batch}"
        )
    classes = soft_label_classes(parts)
    for number, part in enumerate(parts):
        if part.indices is not None and (
            not len(part.indices) or np.min(part.indices) < 0 or np.max(part.indices) >= num_examples
        ):
            raise ValueError(f"part {number} must draw from some of the source's {num_examples} rows")
        if part.labels is not None and len(part.labels) != part.size(num_examples):
            raise ValueError(
                f"part {number} shows {len(part.labels)} labels for {part.size(num_examples)} rows"
            )
        if part.soft_labels is not None and np.shape(part.soft_labels) != (part.size(num_examples), classes):
            raise ValueError(
                f"part {number} carries soft labels of shape {np.shape(part.soft_labels)} for "
                f"{part.size(num_examples)} rows of {classes} classes"
            )


@dataclasses.dataclass(frozen=True)
class Episodes:
    """Every global batch as `count` N-way K-shot episodes of `classes`, one after another: episode b of step
    t is episodes.sample_episode((seed, t, b), ...), its ways x shots support rows then its ways x queries
    query rows, each class by class, in rows [b R, (b + 1) R), R = ways x (shots + queries): the layout of
    jaxssl/methods/episodic.py, which the methods read. The rows show the source's labels."""

    count: int
    ways: int
    shots: int
    queries: int
    classes: tuple[int, ...]

    @property
    def batch(self) -> int:
        """Rows of a global batch: count x ways x (shots + queries)."""
        return self.count * self.ways * (self.shots + self.queries)


def episode_rows(
    step: int, *, episodes: Episodes, labels: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(source indices, shown labels), each (episodes.batch,), of the global batch of `step`: a pure function
    of (seed, step), as batch_rows is."""
    support, query = episodes_lib.step_episodes(
        seed,
        step,
        episodes.count,
        labels,
        episodes.classes,
        episodes.ways,
        episodes.shots,
        episodes.queries,
    )
    indices = np.concatenate([support, query], axis=1).reshape(-1)
    return indices, np.asarray(labels)[indices].astype(np.int32)


def episodes_of_split(labels: np.ndarray, *, count: int, ways: int, shots: int, queries: int) -> Episodes:
    """The Episodes of a split's `labels`, drawn from every class it labels (a run's base classes: the
    training split filtered to config.data.classes); ValueError, in one line, when the split has no labelled
    example, fewer classes than ways, or a class with fewer than shots + queries examples
    (episodes.check_episode)."""
    labels = np.asarray(labels)
    classes = tuple(int(label) for label in np.unique(labels[labels >= 0]))
    if not classes:
        raise ValueError(
            "episodes are drawn from labelled classes; this training split has no labelled example"
        )
    episodes_lib.check_episode(labels, classes, ways, shots, queries)
    return Episodes(count=count, ways=ways, shots=shots, queries=queries, classes=classes)
