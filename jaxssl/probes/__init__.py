"""The evaluation kernels: functions from features (or a network and labelled batches) to a number.

The package hands on the kernels that take plain arrays (numpy or JAX): kNN and linear-probe top-1 on any
(N, D) features with integer labels, and the spread of an embedding. The kernels that need a network, a mesh
or batches of a dataset stay in their modules (embed, layers, finetune)."""

from jaxssl.probes.health import alignment, effective_rank, feature_spread, uniformity
from jaxssl.probes.knn import knn_grid, knn_scores, knn_top1
from jaxssl.probes.linear import fit_logistic_regression, linear_probe_top1, standardize

__all__ = [
    "alignment",
    "effective_rank",
    "feature_spread",
    "fit_logistic_regression",
    "knn_grid",
    "knn_scores",
    "knn_top1",
    "linear_probe_top1",
    "standardize",
    "uniformity",
]
