"""Pure loss functions on global arrays; each docstring gives the formula and the paper."""

from jaxssl.losses.classification import hard_label_cross_entropy, rebalanced_cross_entropy
from jaxssl.losses.clustering import deepcluster_v2, sinkhorn, spherical_kmeans, swav
from jaxssl.losses.contrastive import cpc_info_nce, info_nce, l2_normalize, nearest_neighbours, nt_xent
from jaxssl.losses.decorrelation import barlow_twins, vicreg
from jaxssl.losses.distillation import dino, dino_center, teacher_temperature
from jaxssl.losses.instdisc import instdisc_nce, instdisc_softmax, memory_update, nce_log_normalizer
from jaxssl.losses.reconstruction import adversarial_terms, mae_loss, region_l2, simmim_loss
from jaxssl.losses.regression import byol_loss, simsiam_loss
from jaxssl.losses.semisup import (
    confident_pseudo_labels,
    consistency_mse,
    fixmatch_unlabelled,
    jensen_shannon,
    mix_rows,
    mixup,
    sharpen,
    soft_cross_entropy,
)

__all__ = [
    "adversarial_terms",
    "barlow_twins",
    "byol_loss",
    "confident_pseudo_labels",
    "consistency_mse",
    "cpc_info_nce",
    "deepcluster_v2",
    "dino",
    "dino_center",
    "fixmatch_unlabelled",
    "hard_label_cross_entropy",
    "info_nce",
    "instdisc_nce",
    "instdisc_softmax",
    "jensen_shannon",
    "l2_normalize",
    "mae_loss",
    "memory_update",
    "mix_rows",
    "mixup",
    "nce_log_normalizer",
    "nearest_neighbours",
    "nt_xent",
    "rebalanced_cross_entropy",
    "region_l2",
    "sharpen",
    "simmim_loss",
    "simsiam_loss",
    "sinkhorn",
    "soft_cross_entropy",
    "spherical_kmeans",
    "swav",
    "teacher_temperature",
    "vicreg",
]
