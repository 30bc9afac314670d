"""Each round's classifier: the linear probe (multinomial logistic regression by L-BFGS, probes/linear.py) on
the frozen features of the labelled rows, alone or as a committee trained on bootstrap resamples."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxssl.active.pool import Pool
from jaxssl.probes import linear


def fit(pool: Pool, rows: np.ndarray) -> dict:
    """The probe's {"w", "b"} fitted on the pool's rows `rows` (repeats count twice), with the encoder's probe
    settings (config.eval.linear_l2, linear_steps)."""
    return linear.fit_logistic_regression(
        jnp.asarray(pool.probe_features[rows]),
        jnp.asarray(pool.labels[rows]),
        num_classes=pool.num_classes,
        l2=pool.probe_l2,
        steps=pool.probe_steps,
    )


def probabilities(params: dict, features: np.ndarray) -> np.ndarray:
    """(N, C) softmax of the probe's logits on standardised features."""
    return np.asarray(jax.nn.softmax(jnp.asarray(features) @ params["w"] + params["b"], axis=-1))


def test_top1(pool: Pool, params: dict) -> float:
    """The probe's top-1 on the test split."""
    predicted = np.argmax(np.asarray(jnp.asarray(pool.probe_test) @ params["w"] + params["b"]), axis=1)
    return float(np.mean(predicted == pool.test_labels))


def committee_probabilities(pool: Pool, labelled: np.ndarray, members: int, rng: np.random.Generator):
    """(members, N, C) pool probabilities of a committee by bagging (Abe & Mamitsuka 1998, query-by-bagging):
    each member is a probe fitted on len(labelled) rows drawn from the labelled ones with replacement."""
    return np.stack(
        [
            probabilities(
                fit(pool, rng.choice(labelled, size=len(labelled), replace=True)), pool.probe_features
            )
            for _ in range(members)
        ]
    )
