"""Label-fraction subsets: class-balanced, deterministic, nested; ImageNet's standard lists; a count of labels
per class, nested with them."""

import numpy as np
import pytest

from jaxssl.data import ArraySource, DatasetNotFoundError, FileSource, subsets

LABELS = np.repeat(np.arange(10), 600)  # 6,000 examples, 600 per class
SMALL_LABELS = np.arange(120) % 10  # 120 examples, 12 per class


def test_subsets_are_class_balanced_and_deterministic():
    for fraction, per_class in ((0.01, 6), (0.1, 60), (1.0, 600)):
        chosen = subsets.balanced_indices(LABELS, fraction, seed=0)
        assert np.array_equal(np.bincount(LABELS[chosen]), np.full(10, per_class))
        assert np.array_equal(chosen, subsets.balanced_indices(LABELS, fraction, seed=0))
        assert np.all(np.diff(chosen) > 0)  # sorted, no repeats
    assert not np.array_equal(
        subsets.balanced_indices(LABELS, 0.01, seed=0), subsets.balanced_indices(LABELS, 0.01, seed=1)
    )


@pytest.mark.parametrize("seed", [0, 3])
def test_the_1_percent_subset_lies_inside_the_10_percent_one(seed):
    small = subsets.balanced_indices(LABELS, 0.01, seed)
    large = subsets.balanced_indices(LABELS, 0.1, seed)
    assert set(small) < set(large)


def test_unbalanced_classes_keep_their_proportions_and_unlabelled_examples_are_never_chosen():
    labels = np.concatenate([np.zeros(1000), np.ones(100), np.full(500, -1)]).astype(np.int32)
    chosen = subsets.balanced_indices(labels, 0.1, seed=0)
    assert np.array_equal(np.bincount(labels[chosen]), [100, 10])
    assert len(subsets.balanced_indices(labels, 0.001, seed=0)) == 2  # at least one per class
    with pytest.raises(ValueError, match="label fraction"):
        subsets.balanced_indices(labels, 0.0, seed=0)


def test_labelled_subset_of_an_array_source():
    images = np.arange(len(LABELS), dtype=np.uint8).reshape(-1, 1, 1, 1)
    subset = subsets.labelled_subset(ArraySource(images, LABELS), dataset="cifar10", fraction=0.01, seed=0)
    chosen = subsets.balanced_indices(LABELS, 0.01, 0)
    assert np.array_equal(subset.labels, LABELS[chosen]) and np.array_equal(
        subset.images[:, 0, 0, 0], images[chosen, 0, 0, 0]
    )


def test_imagenet_uses_the_standard_lists_and_says_where_to_get_a_missing_one(tmp_path):
    paths = tuple(f"/data/train/n0{c}/n0{c}_{i}.JPEG" for c in range(3) for i in range(5))
    source = FileSource(paths=paths, labels=np.repeat(np.arange(3), 5))
    (tmp_path / "1percent.txt").write_text("n00_3.JPEG\nn02_0.JPEG\n\n")
    subset = subsets.labelled_subset(
        source, dataset="imagenet2012", fraction=0.01, seed=0, manual_dir=str(tmp_path)
    )
    assert subset.paths == (paths[3], paths[10]) and list(subset.labels) == [0, 2]
    with pytest.raises(DatasetNotFoundError, match="10percent.txt"):
        subsets.labelled_subset(
            source, dataset="imagenet2012", fraction=0.1, seed=0, manual_dir=str(tmp_path)
        )
    (tmp_path / "10percent.txt").write_text("n00_3.JPEG\nn09_1.JPEG\n")
    with pytest.raises(DatasetNotFoundError, match="n09_1.JPEG"):
        subsets.labelled_subset(
            source, dataset="imagenet2012", fraction=0.1, seed=0, manual_dir=str(tmp_path)
        )
    other = subsets.labelled_subset(
        source, dataset="imagenet2012", fraction=0.4, seed=0, manual_dir=str(tmp_path)
    )
    assert np.array_equal(np.bincount(other.labels), [2, 2, 2])  # no standard list: balanced


def test_per_class_subsets_nest_and_refuse_a_count_a_class_lacks():
    small, large = (
        subsets.per_class_indices(SMALL_LABELS, 2, 0),
        subsets.per_class_indices(SMALL_LABELS, 5, 0),
    )
    assert len(small) == 20 and np.all(np.bincount(SMALL_LABELS[small]) == 2)
    assert set(small) <= set(large)
    # the same ranking as the label-fraction protocols': 5 of 12 per class is their 5/12 subset
    np.testing.assert_array_equal(large, subsets.balanced_indices(SMALL_LABELS, 5 / 12, 0))
    with pytest.raises(ValueError, match="13 labels per class asked, but class 0 has 12 examples"):
        subsets.per_class_indices(SMALL_LABELS, 13, 0)
