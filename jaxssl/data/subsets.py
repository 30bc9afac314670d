"""Labelled subsets for the label-fraction protocols (1 % / 10 % of the labels) and the semi-supervised runs.

Class-balanced subsets are a pure function of (labels, fraction, seed) and nested: each class's examples
are ranked once by a permutation drawn from (seed, class), and a fraction takes the first
round(fraction x class size) of that ranking, so the 1 % subset lies inside the 10 % one. ImageNet uses
the standard lists of SimCLR (Chen et al. 2020, appendix B.5), the ones TFDS's `imagenet2012_subset`
downloads.
"""

import os
import warnings

import numpy as np

from jaxssl.data.parts import Part
from jaxssl.data.records import ArraySource, DatasetNotFoundError, FileSource

STANDARD_LISTS = {0.01: "1percent.txt", 0.1: "10percent.txt"}
STANDARD_LISTS_URL = "https://raw.githubusercontent.com/google-research/simclr/master/imagenet_subsets/"


def _ranked_classes(labels: np.ndarray, seed: int):
    """(class, its members in the order of the class's ranking) for every class of `labels`; unlabelled (-1)
    examples are in none."""
    labels = np.asarray(labels)
    for label in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == label)
        yield int(label), members[np.random.default_rng((seed, int(label))).permutation(len(members))]


def _sorted(chosen: list) -> np.ndarray:
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def balanced_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of round(fraction x n_c) examples (at least one) of every class c; unlabelled (-1)
    examples are never chosen. fraction 1 gives every labelled example."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label fraction must lie in (0, 1], got {fraction}")
    return _sorted(
        [ranked[: max(1, round(fraction * len(ranked)))] for _, ranked in _ranked_classes(labels, seed)]
    )


def per_class_indices(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Sorted indices of `count` examples of every class (the semi-supervised papers' "4 labels per class":
    CIFAR-10's 40 / 250 / 4000 labels), the first `count` of each class's ranking, so the subsets nest with
    each other and with balanced_indices' of the same seed wherever the counts agree."""
    chosen = []
    for label, ranked in _ranked_classes(labels, seed):
        if not 1 <= count <= len(ranked):
            raise ValueError(f"{count} labels per class asked, but class {label} has {len(ranked)} examples")
        chosen.append(ranked[:count])
    return _sorted(chosen)


def class_indices(labels: np.ndarray, classes) -> np.ndarray:
    """Sorted indices of the examples whose label is one of `classes` (config.data.classes: a method trained
    on the base classes only never sees a novel-class image). Labels keep their numbers: the test split, the
    probes' heads and the supervised head all count every class. Every listed class must have an example."""
    labels = np.asarray(labels)
    classes = np.asarray([int(c) for c in classes], np.int64)
    absent = [int(c) for c in classes if not np.any(labels == c)]
    if absent:
        raise ValueError(
            f"config.data.classes lists class {absent[0]}, which has no labelled example in the training split"
        )
    return np.flatnonzero(np.isin(labels, classes))


def indices_file(path: str, labels: np.ndarray) -> np.ndarray:
    """Sorted rows of the training split listed in the text file `path`: one row index per line, lines
    starting with # ignored (the files an active-learning loop writes, jaxssl/active/loop.py). ValueError
    naming the file for a missing file, a line that is not an int, no row, a row outside the split, a row
    listed twice or a row without a label."""
    where = f"config.semisup.labelled_indices={path!r}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an empty file: refused below
            rows = np.loadtxt(path, dtype=np.int64, comments="#", ndmin=1)
    except (OSError, ValueError) as error:
        raise ValueError(f"{where} cannot be read as row indices ({error})") from None
    labels = np.asarray(labels)
    if not len(rows):
        raise ValueError(f"{where} lists no row")
    outside = rows[(rows < 0) | (rows >= len(labels))]
    if len(outside):
        raise ValueError(
            f"{where} lists row {outside[0]}, outside the training split's rows 0..{len(labels) - 1}"
        )
    values, counts = np.unique(rows, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(f"{where} lists row {values[counts > 1][0]} more than once")
    unlabelled = rows[labels[rows] < 0]
    if len(unlabelled):
        raise ValueError(f"{where} lists row {unlabelled[0]}, which has no label")
    return values


def listed_indices(paths, list_path: str) -> np.ndarray:
    """Sorted indices of the `paths` whose file name is a line of `list_path` (SimCLR's format: one
    file name per line, e.g. n01440764_10026.JPEG). Every listed name must be found."""
    with open(list_path) as f:
        listed = {line.strip() for line in f if line.strip()}
    found = {os.path.basename(path): i for i, path in enumerate(paths)}
    missing = sorted(listed - set(found))
    if missing:
        raise DatasetNotFoundError(
            f"{len(missing)} images named in {list_path} are not in the training folder, e.g. {missing[:3]}"
        )
    return np.sort(np.asarray([found[name] for name in listed], np.int64))


def standard_list(dataset: str, fraction: float, manual_dir: str | None) -> str | None:
    """The path of the standard subset list of (dataset, fraction), or None when the dataset has none
    (every dataset but ImageNet at 1 % and 10 %). Raises when the list is standard but not on disk."""
    if dataset != "imagenet2012" or fraction not in STANDARD_LISTS:
        return None
    name = STANDARD_LISTS[fraction]
    path = os.path.join(manual_dir or "", name)
    if not os.path.isfile(path):
        raise DatasetNotFoundError(
            f"ImageNet's standard {fraction:.0%} label subset {name} is not in manual_dir={manual_dir!r}: "
            f"download {STANDARD_LISTS_URL}{name} on a machine with network access and copy it there"
        )
    return path


def take(source: ArraySource | FileSource, indices: np.ndarray) -> ArraySource | FileSource:
    """The examples of `source` at `indices`, in that order."""
    if isinstance(source, ArraySource):
        return ArraySource(images=source.images[indices], labels=source.labels[indices])
    return FileSource(
        paths=tuple(source.paths[i] for i in indices), labels=source.labels[indices], channels=source.channels
    )


def first(source: ArraySource | FileSource, count: int) -> ArraySource | FileSource:
    """The first `count` examples of `source` (all of them when it has fewer)."""
    return take(source, np.arange(min(count, len(source.labels))))


def spread(source: ArraySource | FileSource, count: int) -> ArraySource | FileSource:
    """`count` examples of `source` evenly spaced over its rows (all of them when it has fewer): a figure's
    images from every class of a folder, whose rows are sorted by class."""
    size = len(source.labels)
    return take(source, np.unique(np.linspace(0, size - 1, min(count, size)).round().astype(np.int64)))


def labelled_subset(
    source: ArraySource | FileSource,
    *,
    dataset: str,
    fraction: float,
    seed: int,
    manual_dir: str | None = None,
) -> ArraySource | FileSource:
    """The labelled training examples a label-fraction protocol may use: the standard list where the dataset
    has one, else the class-balanced subset of (fraction, seed)."""
    list_path = standard_list(dataset, fraction, manual_dir)
    if list_path is not None:
        if not isinstance(source, FileSource):
            raise ValueError(f"a standard subset list needs a source of files, got {type(source).__name__}")
        return take(source, listed_indices(source.paths, list_path))
    return take(source, balanced_indices(source.labels, fraction, seed))


def semisupervised_parts(
    labels: np.ndarray,
    global_batch: int,
    *,
    mu: int,
    labels_per_class: int,
    label_fraction: float,
    label_seed: int,
    labelled_indices: str = "",
) -> tuple[Part, ...]:
    """The parts of a semi-supervised batch (Sohn et al. 2020, section 2): B_l = global_batch / (1 + mu)
    rows of the labelled subset, showing their labels, then mu B_l rows of the whole training split (labelled
    examples included, as the papers use it) showing -1; mu = 0 is the labelled part alone (Noisy Student's
    first teacher). The subset is the rows listed in the file `labelled_indices` when given (indices_file),
    else `labels_per_class` examples of every class when > 0, else the class-balanced `label_fraction` of the
    labels, both nested by `label_seed` with the evaluation protocols' subsets."""
    if not isinstance(mu, int) or mu < 0:
        raise ValueError(
            f"config.semisup.mu must be an int >= 0 (unlabelled rows per labelled row), got {mu!r}"
        )
    if global_batch % (1 + mu):
        raise ValueError(
            f"the global batch {global_batch} does not split into 1 + mu = {1 + mu} equal shares (B_l labelled "
            "rows and mu B_l unlabelled ones)"
        )
    labels = np.asarray(labels)
    if not np.any(labels >= 0):
        raise ValueError("a semi-supervised run needs a labelled training split; this one has no labels")
    if labelled_indices:
        labelled = indices_file(labelled_indices, labels)
    elif labels_per_class > 0:
        labelled = per_class_indices(labels, labels_per_class, label_seed)
    else:
        labelled = balanced_indices(labels, label_fraction, label_seed)
    labelled_batch = global_batch // (1 + mu)
    if mu == 0:
        return (Part(labelled_batch, indices=labelled),)
    return (
        Part(labelled_batch, indices=labelled),
        Part(mu * labelled_batch, labels=np.full(len(labels), -1, np.int32)),
    )


def confident_balanced_rows(
    probabilities: np.ndarray, *, threshold: float, per_class: int, seed: int
) -> np.ndarray:
    """Rows of a teacher's pseudo-labelled pool, `per_class` of each predicted class, grouped by class (Xie et
    al. 2020, section 3, data filtering and balancing): rows whose top probability is below `threshold` are
    dropped; a class with more confident rows than `per_class` keeps its most confident ones, a class with
    fewer repeats all of them as often as they fit and fills the rest with a random draw of them
    (np.random.default_rng((seed, class))). A class no row is confident of gets none."""
    probabilities = np.asarray(probabilities)
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"the pseudo-label confidence threshold must lie in [0, 1), got {threshold}")
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    confidence, predicted = probabilities.max(axis=1), probabilities.argmax(axis=1)
    chosen = []
    for label in range(probabilities.shape[1]):
        rows = np.flatnonzero((predicted == label) & (confidence >= threshold))
        rows = rows[np.argsort(-confidence[rows], kind="stable")]
        if len(rows) >= per_class or not len(rows):
            chosen.append(rows[:per_class])
            continue
        copies, rest = divmod(per_class, len(rows))
        drawn = np.random.default_rng((seed, label)).choice(rows, rest, replace=False)
        chosen.append(np.concatenate([np.tile(rows, copies), np.sort(drawn)]))
    return np.concatenate(chosen).astype(np.int64)
