"""Uncertainty and committee scores of a pool's rows: higher = ask for that row's label first.

Settles (2009), "Active Learning Literature Survey", section 3.1 (uncertainty sampling: least confidence,
margin, entropy) and section 3.2 (query-by-committee, vote entropy; Dagan & Engelson 1995).
"""

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy

from jaxssl.active.inputs import check_probabilities


def least_confidence(probs) -> np.ndarray:
    """(N,) 1 - max_c p(c | x): how far the most likely class is from certain (Lewis & Gale 1994).

    probs: (N, C) class probabilities of N rows."""
    probs = jnp.asarray(check_probabilities(probs, 2))
    return np.asarray(1.0 - jnp.max(probs, axis=1))


def margin(probs) -> np.ndarray:
    """(N,) -(p(c1 | x) - p(c2 | x)), c1 and c2 the two most likely classes: a small gap between them asks
    first (Scheffer et al. 2001).

    probs: (N, C) class probabilities of N rows, C >= 2."""
    probs = jnp.asarray(check_probabilities(probs, 2))
    if probs.shape[1] < 2:
        raise ValueError(f"margin needs at least two classes, got probs of shape {probs.shape}")
    top_two = jnp.sort(probs, axis=1)[:, -2:]
    return np.asarray(top_two[:, 0] - top_two[:, 1])


def entropy(probs) -> np.ndarray:
    """(N,) H(x) = -sum_c p(c | x) log p(c | x) in nats, 0 log 0 = 0 (Shannon 1948).

    probs: (N, C) class probabilities of N rows."""
    probs = jnp.asarray(check_probabilities(probs, 2))
    return np.asarray(-jnp.sum(xlogy(probs, probs), axis=1))


def vote_entropy(committee_probs) -> np.ndarray:
    """(N,) entropy of the committee's vote: with V(c, x) the number of the M members whose most likely class
    for x is c, VE(x) = -sum_c V(c, x)/M log(V(c, x)/M) (Dagan & Engelson 1995; Settles 2009). 0 when
    every member votes alike, log min(M, C) at most.

    committee_probs: (M, N, C) class probabilities of each member for N rows."""
    committee_probs = jnp.asarray(check_probabilities(committee_probs, 3, "committee_probs"))
    members, _, classes = committee_probs.shape
    votes = jnp.argmax(committee_probs, axis=2)
    shares = jnp.sum(votes[:, :, None] == jnp.arange(classes), axis=0) / members
    return np.asarray(-jnp.sum(xlogy(shares, shares), axis=1))
