"""Active learning: the selection rules against hand-written NumPy and on blobs whose right picks are known,
their refusals, the loop's resume after a kill between and within rounds, and its labels starting FixMatch."""

import importlib
import json
import os
import sys

import numpy as np
import pytest

from jaxssl import active, experiment, train, validate
from jaxssl.active import classifier, geometry
from jaxssl.active import loop as loop_lib
from jaxssl.active import pool as pool_lib
from jaxssl.data import subsets
from jaxssl.report import active_learning as report
from tests.helpers import REPO, read_metrics, saved_run, tiny_config


def launcher():
    """launch/active_learning.py as a module (launch/ is not a package)."""
    sys.path.insert(0, os.path.join(REPO, "launch"))
    try:
        return importlib.import_module("active_learning")
    finally:
        sys.path.pop(0)


def softmax_rows(seed: int, shape) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=shape) * 3
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    return probs / probs.sum(-1, keepdims=True)


def blobs(sizes=(40, 30, 20, 10), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs of unit spread whose centres are 100 apart: (features (N, 8), blob of each row)."""
    rng = np.random.default_rng(seed)
    centres = 100 * np.eye(8)[: len(sizes)]
    which = np.repeat(np.arange(len(sizes)), sizes)
    return (centres[which] + rng.normal(size=(len(which), 8))).astype(np.float32), which


def numpy_distances(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))


# The rules against NumPy


def test_uncertainty_scores_are_the_formulas():
    probs = softmax_rows(0, (30, 5))
    probs[0] = [1, 0, 0, 0, 0]  # certain: 0 log 0 = 0
    probs[1] = [0.2] * 5  # uniform: the largest score of each rule
    top_two = np.sort(probs, axis=1)[:, -2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(probs > 0, probs * np.log(probs), 0.0)
    np.testing.assert_allclose(active.least_confidence(probs), 1 - probs.max(1), atol=1e-6)
    np.testing.assert_allclose(active.margin(probs), top_two[:, 0] - top_two[:, 1], atol=1e-6)
    np.testing.assert_allclose(active.entropy(probs), -plogp.sum(1), atol=1e-5)
    for rule in (active.least_confidence, active.margin, active.entropy):
        scores = rule(probs)
        assert np.argmax(scores) == 1 and np.argmin(scores) == 0


def test_vote_entropy_is_the_entropy_of_the_members_votes():
    committee = softmax_rows(1, (4, 25, 3))
    votes = committee.argmax(2)
    expected = []
    for row in range(25):
        shares = np.bincount(votes[:, row], minlength=3) / 4
        expected.append(-sum(s * np.log(s) for s in shares if s > 0))
    np.testing.assert_allclose(active.vote_entropy(committee), expected, atol=1e-6)
    agree = np.tile(np.array([[[0.1, 0.7, 0.2]]]), (4, 1, 1))
    split = np.array([[[0.6, 0.4, 0.0]], [[0.6, 0.4, 0.0]], [[0.2, 0.8, 0.0]]])
    assert active.vote_entropy(agree)[0] == 0
    np.testing.assert_allclose(
        active.vote_entropy(split)[0], -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))
    )


def numpy_kcenter(x, labelled, budget):
    """Sener & Savarese's algorithm 1, a full distance matrix."""
    distances = numpy_distances(x)
    nearest = distances[:, labelled].min(1)
    chosen = []
    for _ in range(budget):
        nearest[labelled] = nearest[chosen] = -1
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, distances[:, chosen[-1]])
    return chosen


def test_kcenter_greedy_is_the_farthest_first_traversal():
    x = np.random.default_rng(2).normal(size=(70, 6)).astype(np.float32)
    labelled = np.array([3, 40])
    np.testing.assert_array_equal(active.kcenter_greedy(x, labelled, 9), numpy_kcenter(x, labelled, 9))
    first = active.kcenter_greedy(x, np.zeros(0, int), 3)
    assert first[0] == np.argmin(np.linalg.norm(x - x.mean(0), axis=1))  # no label: the most central row
    np.testing.assert_array_equal(first[1:], numpy_kcenter(x, first[:1], 2))


def numpy_probcover(x, labelled, budget, delta):
    """Plain greedy maximum coverage on the whole ball graph."""
    inside = numpy_distances(x) < delta
    covered = inside[labelled].any(0) if len(labelled) else np.zeros(len(x), bool)
    chosen = []
    for _ in range(budget):
        gains = (inside & ~covered[None, :]).sum(1)
        gains[list(labelled) + chosen] = -1
        chosen.append(int(np.argmax(gains)))
        covered |= inside[chosen[-1]]
    return chosen


def test_probcover_lazy_greedy_picks_what_the_plain_greedy_picks():
    x = np.random.default_rng(3).normal(size=(80, 4)).astype(np.float32)
    for labelled in (np.zeros(0, int), np.array([5, 17, 60])):
        picks, gains = active.probcover(x, labelled, 6, 1.3, return_values=True)
        np.testing.assert_array_equal(picks, numpy_probcover(x, labelled, 6, 1.3))
        assert np.all(np.diff(gains) <= 0) and gains[0] > 0


def test_typiclust_and_probcover_pick_the_most_typical_row_of_each_blob_largest_first():
    x, which = blobs()
    typical = []
    for blob in range(4):
        members = np.flatnonzero(which == blob)
        distances = np.sort(numpy_distances(x[members]), axis=1)[:, 1:21]
        typical.append(int(members[np.argmax(1 / distances.mean(1))]))
    np.testing.assert_array_equal(active.typiclust(x, np.zeros(0, int), 4, seed=0), typical)
    np.testing.assert_array_equal(active.typiclust(x, np.array([typical[0]]), 3, seed=1), typical[1:])
    delta = 20.0  # wider than a blob, far narrower than the gaps: each ball covers its whole blob
    np.testing.assert_array_equal(which[active.probcover(x, np.zeros(0, int), 4, delta)], [0, 1, 2, 3])
    np.testing.assert_array_equal(which[active.probcover(x, np.array([0, 1]), 3, delta)], [1, 2, 3])
    rest = active.probcover(x, np.zeros(0, int), 6, delta, return_values=True)  # all covered: k-center after
    np.testing.assert_array_equal(rest[1], [40, 30, 20, 10, 0, 0])


def test_purity_delta_is_the_largest_radius_with_enough_pure_balls():
    x = np.random.default_rng(4).normal(size=(60, 3)).astype(np.float32)
    clusters = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    distances = numpy_distances(x)
    other = np.where(clusters[:, None] != clusters[None, :], distances, np.inf).min(1)
    delta = active.purity_delta(x, clusters, purity=0.9)
    ordered = np.sort(other)  # a ball is pure up to its row's distance to another cluster
    assert np.mean(other >= ordered[6]) >= 0.9 > np.mean(other >= ordered[7])
    np.testing.assert_allclose(delta, ordered[6], rtol=1e-4)
    x, which = blobs()
    assert 90 < active.purity_delta(x, which) < 160  # the gap between blobs, not a blob's width


def test_kmeans_finds_well_separated_blobs():
    x, which = blobs(seed=5)
    clusters, centres = geometry.kmeans(x, 4, seed=0)
    assert len({(a, b) for a, b in zip(which, clusters, strict=True)}) == 4
    np.testing.assert_allclose(centres[clusters[0]], x[which == 0].mean(0), rtol=1e-4)


# Refusals, each before anything is computed

POOL, _ = blobs(sizes=(6, 6))
BAD_INPUTS = [
    (lambda: active.kcenter_greedy(POOL, np.arange(5), 8), "budget 8 is larger than the unlabelled pool"),
    (lambda: active.typiclust(POOL, np.arange(5), 8, seed=0), "budget 8 is larger than the unlabelled pool"),
    (lambda: active.probcover(POOL, [], 13, 1.0), "budget 13 is larger than the unlabelled pool"),
    (lambda: active.probcover(POOL, [], 2, 0.0), "delta must be a positive"),
    (lambda: active.probcover(POOL, [], 2, float("nan")), "delta must be a positive"),
    (lambda: active.kcenter_greedy(POOL, [0, 12], 1), "labelled index 12 is outside the pool's rows 0..11"),
    (lambda: active.typiclust(POOL, [-1], 1, seed=0), "labelled index -1 is outside"),
    (lambda: active.probcover(POOL, [3, 4, 3], 1, 1.0), "labelled index 3 is repeated"),
    (lambda: active.kcenter_greedy(POOL, [0.5], 1), "labelled must be a 1-D array of row indices"),
    (lambda: active.kcenter_greedy(POOL, [], 0), "budget must be an int >= 1"),
    (lambda: active.margin([[0.5, 0.6]]), r"probs\[0\] sums to 1.1, not 1"),
    (lambda: active.entropy([[1.2, -0.2]]), "negative values"),
    (lambda: active.least_confidence([[np.nan, 1.0]]), "non-finite"),
    (lambda: active.least_confidence([0.5, 0.5]), "2 axes"),
    (lambda: active.vote_entropy([[[0.5, 0.5]], [[0.9, 0.2]]]), r"committee_probs\[1, 0\] sums to 1.1"),
    (lambda: active.purity_delta(POOL, np.zeros(12, int)), "at least two clusters"),
]


@pytest.mark.parametrize("call, message", BAD_INPUTS)
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_file_of_indices_is_read_and_refused_in_one_line(tmp_path):
    labels = np.array([0, 1, 2, -1, 1])
    contents = {
        "good": "# a comment\n4\n0\n2\n",
        "outside": "1\n5\n",
        "twice": "1\n2\n1\n",
        "unlabelled": "3\n",
        "empty": "# nothing\n",
        "words": "1\ntwo\n",
    }
    for name, text in contents.items():
        (tmp_path / name).write_text(text)
    np.testing.assert_array_equal(subsets.indices_file(str(tmp_path / "good"), labels), [0, 2, 4])
    for name, message in (
        ("outside", "lists row 5, outside the training split's rows 0..4"),
        ("twice", "lists row 1 more than once"),
        ("unlabelled", "lists row 3, which has no label"),
        ("empty", "lists no row"),
        ("words", "cannot be read as row indices"),
        ("missing", "cannot be read as row indices"),
    ):
        with pytest.raises(ValueError, match=message):
            subsets.indices_file(str(tmp_path / name), labels)


def test_labelled_indices_is_a_third_way_to_choose_the_subset_and_only_alone():
    config = tiny_config("fixmatch", "")
    assert "labelled_indices" not in experiment.identity_of(config)["semisup"]  # earlier runs' identity
    config.semisup.update(labels_per_class=0, label_fraction=0.0, labelled_indices="rows.txt")
    validate.check_config(config)
    assert experiment.identity_of(config)["semisup"]["labelled_indices"] == "rows.txt"
    config.semisup.labels_per_class = 2
    with pytest.raises(ValueError, match="labelled_indices='rows.txt' chooses the labelled subset, so"):
        validate.check_config(config)


# The loop on a tiny encoder


@pytest.fixture(scope="module")
def encoder(fashion_dir, tmp_path_factory):
    """A SimCLR run directory of the miniature Fashion-MNIST (a checkpoint, no training) and its pool."""
    workdir = str(tmp_path_factory.mktemp("active") / "simclr")
    config = tiny_config("simclr", fashion_dir)
    saved_run(config, workdir)
    config = pool_lib.encoder_config(workdir, "fashion_mnist", {"manual_dir": fashion_dir})
    facts = pool_lib.encoder_facts(workdir, config)
    return workdir, pool_lib.embed_pool(experiment.prepare(config), workdir, config, facts)


SETTINGS = loop_lib.Settings(
    strategy="vote_entropy", initial="random", initial_budget=10, round_budgets=(6, 8, 8), seed=3, committee=3
)


def recorded(workdir: str) -> tuple[list[dict], dict[str, str]]:
    """The rounds without their seconds, and every other file's text."""
    rounds = [{k: v for k, v in r.items() if k != "seconds"} for r in loop_lib.read_rounds(workdir)]
    texts = {}
    for name in sorted(os.listdir(workdir)):
        if name.endswith(".txt") or name == loop_lib.LOOP:
            with open(os.path.join(workdir, name)) as f:
                texts[name] = f.read()
    return rounds, texts


class Killed(Exception):
    """Stands for a kill: raised from inside the loop by a patched function."""


def run_killed(pool, workdir, monkeypatch, module, name, condition) -> None:
    """run_loop with module.name raising Killed on the first call whose arguments meet `condition`."""
    original = getattr(module, name)

    def patched(*args):
        if condition(*args):
            raise Killed
        return original(*args)

    monkeypatch.setattr(module, name, patched)
    with pytest.raises(Killed):
        loop_lib.run_loop(pool, SETTINGS, workdir)
    monkeypatch.undo()


def test_a_loop_killed_between_and_within_rounds_resumes_to_the_uninterrupted_records(
    encoder, tmp_path, monkeypatch
):
    encoder_dir, pool = encoder
    uninterrupted = loop_lib.run_loop(pool, SETTINGS, str(tmp_path / "whole"))
    assert [r["labelled"] for r in uninterrupted] == [10, 16, 24, 32]
    assert len({row for r in uninterrupted for row in r["chosen"]}) == 32
    with open(tmp_path / "whole" / loop_lib.LOOP) as f:
        loop = json.load(f)
    assert (
        loop["encoder"] == os.path.normpath(encoder_dir) and loop["method"] == "simclr" and loop["step"] == 1
    )
    assert loop["pool_examples"] == 64 and loop["test_examples"] == 32 and loop["round_budgets"] == [6, 8, 8]
    workdir = str(tmp_path / "killed")
    # between rounds 1 and 2; in round 2 after its choice; between round 3's record and its indices file
    run_killed(pool, workdir, monkeypatch, loop_lib, "run_round", lambda *args: args[3] == 2)
    assert len(loop_lib.read_rounds(workdir)) == 2
    run_killed(pool, workdir, monkeypatch, classifier, "test_top1", lambda *args: True)
    assert len(loop_lib.read_rounds(workdir)) == 2
    run_killed(pool, workdir, monkeypatch, loop_lib, "write_new", lambda path, _: path.endswith("_32.txt"))
    assert len(loop_lib.read_rounds(workdir)) == 4 and not os.path.exists(loop_lib.indices_path(workdir, 32))
    loop_lib.run_loop(pool, SETTINGS, workdir)
    assert recorded(workdir) == recorded(str(tmp_path / "whole"))
    other = loop_lib.Settings(**{**SETTINGS.__dict__, "seed": 4})
    with pytest.raises(ValueError, match=r"holds a loop of other settings \(\{'seed': \(3, 4\)\}"):
        loop_lib.run_loop(pool, other, workdir)


def test_the_command_runs_every_strategy_and_its_labels_start_fixmatch(
    encoder, fashion_dir, tmp_path, capsys
):
    workdir, _ = encoder
    root = str(tmp_path / "loops")
    common = ["--dataset=fashion_mnist", f"--root={root}", "--name=tiny", "--initial_budget=10"]
    launcher().main(
        [
            f"--encoder={workdir}",
            f"--manual_dir={fashion_dir}",
            "--strategies=random,least_confidence,margin,entropy,vote_entropy,kcenter,typiclust,probcover",
            "--round_budgets=6",
            *common,
        ]
    )
    loops = report.read_loops(root)
    assert len(loops) == 8 and all([r["labelled"] for r in rounds] == [10, 16] for _, rounds in loops)
    starts = {loop["strategy"]: rounds[0]["rule"] for loop, rounds in loops}
    assert (
        starts["typiclust"] == "typiclust"
        and starts["probcover"] == "probcover"
        and starts["margin"] == "random"
    )
    table = report.markdown_tables(loops)
    assert "| simclr, typiclust | 1 |" in table and "Paired difference from random" in table
    assert os.path.isfile(report.accuracy_figure(loops, str(tmp_path / "curves.png"), "test"))
    capsys.readouterr()
    launcher().main(["--print", "--strategies=typiclust", "--round_budgets=6", *common])
    (command,) = capsys.readouterr().out.splitlines()
    indices = os.path.join(root, "tiny_typiclust_seed0", "labelled_16.txt")
    assert f"--config.semisup.labelled_indices={indices} --config.seed=0" in command
    (chosen,) = [
        [row for r in rounds for row in r["chosen"]]
        for loop, rounds in loops
        if loop["strategy"] == "typiclust"
    ]
    config = tiny_config("fixmatch", fashion_dir, steps=1)
    config.semisup.update(labels_per_class=0, label_fraction=0.0, labelled_indices=indices)
    config.init.workdir = workdir  # from the same pretraining
    exp = experiment.prepare(config)
    np.testing.assert_array_equal(exp.parts[0].indices, sorted(chosen))
    train.run(config, str(tmp_path / "fixmatch"))
    assert any("loss" in line for line in read_metrics(str(tmp_path / "fixmatch")))


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--dataset=cifar10"],
            "was trained on fashion_mnist, the pool is cifar10: an encoder of another dataset",
        ),
        (
            ["--dataset=fashion_mnist", "--initial_budget=60"],
            "ask for 70 labels, more than the unlabelled pool of 64",
        ),
        (["--dataset=fashion_mnist", "--strategies=coreset"], "unknown strategy 'coreset'"),
        (["--dataset=fashion_mnist", "--initial=margin"], "invalid choice"),
    ],
)
def test_the_command_refuses_in_one_line_before_writing(
    encoder, fashion_dir, tmp_path, flags, message, capsys
):
    workdir, _ = encoder
    root = tmp_path / "loops"
    with pytest.raises(SystemExit) as raised:
        launcher().main([f"--encoder={workdir}", f"--manual_dir={fashion_dir}", f"--root={root}", *flags])
    assert message in str(raised.value) + capsys.readouterr().err
    assert not root.exists()


def test_the_pages_table_is_the_one_the_kept_records_give():
    with open(os.path.join(REPO, "docs", "active-learning.md")) as f:
        page = f.read()
    assert report.markdown_tables(report.read_loops(os.path.join(REPO, "results", "active_learning"))) in page
