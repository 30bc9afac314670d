"""The loop's strategies: how a round turns the pool and its labelled rows into `budget` new rows to label,
with each pick's value (its score, distance, typicality or gain) for the record.

  random            uniformly among the unlabelled rows
  least_confidence  the probe's 1 - max p                  (rules.least_confidence)
  margin            the probe's smallest top-two gap       (rules.margin)
  entropy           the probe's largest entropy            (rules.entropy)
  vote_entropy      a bagged committee's vote entropy      (rules.vote_entropy, classifier.committee_probabilities)
  kcenter           k-center greedy                        (coverage.kcenter_greedy)
  typiclust         TypiClust                              (typicality.typiclust)
  probcover         ProbCover, delta by cluster purity     (coverage.probcover, coverage.purity_delta)

The score rules need a probe, hence a labelled row; random, typiclust and probcover also start a loop from
no label at all (COLD_START). The coverage rules work on the unit-length features (cosine geometry, as the
self-supervised losses compare them).
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from jaxssl.active import classifier, coverage, geometry, rules
from jaxssl.active.pool import Pool
from jaxssl.active.typicality import typiclust


@dataclasses.dataclass(frozen=True)
class Request:
    """One choice: the pool, its labelled rows, how many to add, the round's draws (np.random.Generator, from
    the loop's seed and the round), the committee's size and the coverage rules' settings."""

    pool: Pool
    labelled: np.ndarray
    budget: int
    rng: np.random.Generator
    seed: tuple
    committee: int
    k_neighbours: int
    delta: float | None


def top_scores(scores: np.ndarray, request: Request) -> tuple[np.ndarray, np.ndarray]:
    """(the `budget` unlabelled rows of highest score, their scores); equal scores (a committee's votes
    often tie) in an order drawn from the round's generator rather than the rows' stored order."""
    scores = np.array(scores, np.float64)
    scores[request.labelled] = -np.inf
    order = np.lexsort((request.rng.random(len(scores)), -scores))
    chosen = order[: request.budget]
    return chosen.astype(np.int64), scores[chosen]


def by_score(rule: Callable) -> Callable:
    """The strategy that asks for the rows of highest rule(probe probabilities on the pool)."""

    def choose(request: Request):
        params = classifier.fit(request.pool, request.labelled)
        return top_scores(rule(classifier.probabilities(params, request.pool.probe_features)), request)

    return choose


def random_rows(request: Request):
    unlabelled = np.setdiff1d(np.arange(request.pool.size), request.labelled)
    return np.sort(request.rng.choice(unlabelled, size=request.budget, replace=False)), None


def vote(request: Request):
    committee = classifier.committee_probabilities(
        request.pool, request.labelled, request.committee, request.rng
    )
    return top_scores(rules.vote_entropy(committee), request)


def kcenter(request: Request):
    return coverage.kcenter_greedy(request.pool.unit, request.labelled, request.budget, return_values=True)


def typical(request: Request):
    return typiclust(
        request.pool.unit,
        request.labelled,
        request.budget,
        seed=request.seed,
        k_neighbours=request.k_neighbours,
        return_values=True,
    )


def cover(request: Request):
    return coverage.probcover(
        request.pool.unit, request.labelled, request.budget, request.delta, return_values=True
    )


STRATEGIES = {
    "random": random_rows,
    "least_confidence": by_score(rules.least_confidence),
    "margin": by_score(rules.margin),
    "entropy": by_score(rules.entropy),
    "vote_entropy": vote,
    "kcenter": kcenter,
    "typiclust": typical,
    "probcover": cover,
}
COLD_START = ("random", "typiclust", "probcover")
VALUES = {  # what each strategy records beside its picks
    "random": None,
    "least_confidence": "1 - max p",
    "margin": "-(p1 - p2)",
    "entropy": "entropy (nats)",
    "vote_entropy": "vote entropy (nats)",
    "kcenter": "distance to the nearest earlier centre",
    "typiclust": "typicality",
    "probcover": "rows newly covered",
}


def pool_delta(pool: Pool, seed, purity: float) -> float:
    """ProbCover's delta for the pool: coverage.purity_delta over a k-means of the unit features into as many
    clusters as classes (Yehuda et al. 2022), from `seed`."""
    clusters, _ = geometry.kmeans(pool.unit, pool.num_classes, seed=seed)
    return coverage.purity_delta(pool.unit, clusters, purity)
