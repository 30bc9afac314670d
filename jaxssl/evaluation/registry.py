"""The offline evaluation protocols: what each one is, what it needs, and the function that makes its record.

Adding a protocol is one function (context -> {result: value}, see context.Context) in one of this package's
modules and one entry of PROTOCOLS; the command's --protocol help, the request checks and the defaults read
them from here.

The frozen-feature protocols (frozen=True) are not independent: one embedding pass of the labelled train
examples and of the eval split serves all those a request names (frozen.frozen_records), so they run
together, before the others, in PROTOCOLS' order, and each record's seconds is the whole group's. The others
run one by one in the order asked.
"""

import dataclasses
from collections.abc import Callable

from jaxssl.evaluation import fewshot, figures, frozen, trained
from jaxssl.models.network import has_classifier
from jaxssl.probes import layers

FEATURES = ("network", "pixels")
INITS = ("checkpoint", "random")


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One offline protocol.

    description: the line each of its records carries. record: its function, context -> results, or, for
    a frozen one, (context, embeddings) -> results with frozen.embeddings' shared pass. frozen: it reads that
    shared pass. pixels: it also runs on raw pixels (--eval_features=pixels). reads_network: it needs the
    network's state (the newest checkpoint, or the untrained network). requires(exp): a one-line ValueError
    naming what the run lacks for it; None where every run will do. check(config, exp, labelled): a one-line
    ValueError where the config asks what the loaded splits cannot give. key_salt: its PRNG key is
    fold_in(key(seed), key_salt); None where it draws nothing. default: run when no protocol is named.
    """

    description: str
    record: Callable[..., dict]
    frozen: bool = False
    pixels: bool = False
    reads_network: bool = True
    requires: Callable[[object], None] | None = None
    check: Callable[[object, object, object], None] | None = None
    key_salt: int | None = None
    default: bool = False


def needs_reconstruction(exp) -> None:
    if exp.method.reconstruct is None:
        raise ValueError(
            f"the reconstruction protocol needs a masked image model's network; {exp.method.name} does not "
            "reconstruct"
        )


def needs_crop_policy(exp) -> None:
    if exp.crop_policy is None:
        raise ValueError(
            "the crops protocol draws ContrastiveCrop's boxes; this run has none (it was not trained with "
            "crop=contrastive)"
        )


def needs_classifier(exp) -> None:
    if not has_classifier(exp.method.network):
        raise ValueError(
            f"the classifier protocol reads a network's own classifier; {exp.method.name}'s network has none: "
            "use linear_lbfgs, linear_sgd or finetune"
        )


def needs_feature_maps(exp) -> None:
    layers.check_network(exp.method.network)


PROTOCOLS = {
    "knn": Protocol(
        "weighted cosine kNN (InstDisc), grid of k and T, frozen features of the labelled train examples",
        frozen.knn_record,
        frozen=True,
        pixels=True,
        default=True,
    ),
    "linear_lbfgs": Protocol(
        "fast linear probe: L-BFGS logistic regression on cached standardised frozen features",
        frozen.linear_lbfgs_record,
        frozen=True,
        pixels=True,
        default=True,
    ),
    "health": Protocol(
        "representation health of the eval-split embedding: spread, RankMe, alignment, uniformity",
        frozen.health_record,
        frozen=True,
        pixels=True,
        key_salt=13,
        default=True,
    ),
    "classifier": Protocol(
        "the network's own classifier on the eval split (the EMA weights where the method evaluates them)",
        frozen.classifier_record,
        frozen=True,
        requires=needs_classifier,
    ),
    "tsne": Protocol(
        "t-SNE of eval-split backbone features coloured by class",
        frozen.tsne_record,
        frozen=True,
        pixels=True,
    ),
    "fewshot": Protocol(
        "N-shot probes: logistic or ridge regression on N frozen train features per class, mean over seeds",
        fewshot.fewshot_record,
        frozen=True,
        pixels=True,
        check=fewshot.check_fewshot,
    ),
    "episodes": Protocol(
        "N-way K-shot episodes of the eval split's novel classes: prototypes, logistic regression, fine-tuning"
        " (and a meta-learner's own adaptation)",
        fewshot.episodes_record,
        frozen=True,
        pixels=True,
        check=fewshot.check_episodes,
        key_salt=17,
    ),
    "layers": Protocol(
        "per-layer linear probes: L-BFGS on each backbone feature map, average-pooled to a fixed size",
        frozen.layer_probes_record,
        requires=needs_feature_maps,
    ),
    "linear_sgd": Protocol(
        "papers' linear probe: SGD+Nesterov, cosine, crop+flip, frozen backbone, centre-crop test",
        trained.linear_sgd_record,
        check=trained.head_layers_check("linear_sgd"),
        key_salt=11,
    ),
    "finetune": Protocol(
        "fine-tuning of the whole network: SGD+Nesterov, LARS or AdamW, cosine, crop+flip, centre-crop test",
        trained.finetune_record,
        check=trained.head_layers_check("finetune"),
        key_salt=12,
    ),
    "gallery": Protocol(
        "augmented views of the config's view preset",
        figures.gallery_record,
        reads_network=False,
        key_salt=14,
    ),
    "reconstruction": Protocol(
        "eval images, what the network saw of them (masked, or their lightness), what it rebuilt",
        figures.reconstruction_record,
        requires=needs_reconstruction,
        key_salt=15,
    ),
    "crops": Protocol(
        "ContrastiveCrop: train images, the heat map of the network, the box the run holds, crops inside it",
        figures.crops_record,
        requires=needs_crop_policy,
        key_salt=16,
    ),
}
DEFAULT_PROTOCOLS = tuple(name for name, protocol in PROTOCOLS.items() if protocol.default)
PIXEL_PROTOCOLS = tuple(name for name, protocol in PROTOCOLS.items() if protocol.pixels)


def check_request(names, features: str, init: str, label_fraction: float) -> None:
    """ValueError for an unknown protocol, feature or init, a fraction outside (0, 1], or pixels with a
    protocol that reads a network."""
    unknown = sorted(set(names) - set(PROTOCOLS))
    if unknown or not names:
        raise ValueError(f"unknown protocol(s) {unknown or names}; choose from {list(PROTOCOLS)}")
    if features not in FEATURES or init not in INITS:
        raise ValueError(
            f"features must be one of {FEATURES} and init one of {INITS}; got {features!r}, {init!r}"
        )
    if not 0.0 < label_fraction <= 1.0:
        raise ValueError(f"label_fraction must lie in (0, 1], got {label_fraction}")
    if features == "pixels" and set(names) - set(PIXEL_PROTOCOLS):
        raise ValueError(
            f"pixel features serve only the frozen-feature protocols: {', '.join(PIXEL_PROTOCOLS)}"
        )


def check_requirements(names, exp, config, labelled) -> None:
    """ValueError, from the first protocol of `names` that the prepared experiment (its config, its labelled
    training examples) cannot serve."""
    for name in names:
        if PROTOCOLS[name].requires is not None:
            PROTOCOLS[name].requires(exp)
        if PROTOCOLS[name].check is not None:
            PROTOCOLS[name].check(config, exp, labelled)
