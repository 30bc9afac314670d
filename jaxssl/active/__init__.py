"""Active learning on frozen features: which rows of a pool to label next.

The selection rules are pure functions of arrays (rules.py: least confidence, margin, entropy, vote entropy;
coverage.py: k-center greedy, ProbCover and its ball radius; typicality.py: TypiClust); every score is
"higher = ask first" and every `labelled` an int array of rows already labelled, possibly empty. loop.py runs
them round by round on a frozen encoder's features (pool.py), resumably; launch/active_learning.py is its
command line.
"""

from jaxssl.active.coverage import kcenter_greedy, probcover, purity_delta
from jaxssl.active.rules import entropy, least_confidence, margin, vote_entropy
from jaxssl.active.typicality import typiclust

__all__ = [
    "entropy",
    "kcenter_greedy",
    "least_confidence",
    "margin",
    "probcover",
    "purity_delta",
    "typiclust",
    "vote_entropy",
]
