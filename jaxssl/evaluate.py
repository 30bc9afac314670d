"""Offline evaluation protocols of a run, each appending one JSON line to DIR/offline_eval.jsonl.

On frozen features (one embedding pass serves them all):
  knn           temperature-weighted cosine kNN over the grid k x T, on backbone and projector features
  linear_lbfgs  the fast linear probe: L-BFGS logistic regression on cached, standardised features
  health        spread, effective rank (RankMe), alignment and uniformity, and whether it collapsed
  tsne          a PNG of a t-SNE of eval-split embeddings coloured by class (DIR/plots/tsne_step<step>.png)
  layers        the pretext papers' per-layer probes: L-BFGS on each feature map, pooled (evaluation/layers.py)
Training on labelled examples (evaluation/supervised.py):
  linear_sgd    the papers' linear probe: SGD with Nesterov momentum on the frozen backbone, crop + flip
  finetune      the whole network with its own optimiser; from --eval_init=random, the supervised baseline
Neither:
  gallery       a PNG of the views the config's augmentation makes of a few images (DIR/plots/augmentations*)
  reconstruction  masked image models and colorization: a PNG of a few eval images, what the network saw
                (masked, or their lightness) and what it rebuilt (DIR/plots/reconstruction_step<step>*.png)
  crops         ContrastiveCrop runs: a PNG of a few training images, heat maps and boxes (DIR/plots/crops_step*)
The figures' records are made in figures.py.

label_fraction < 1 trains probes and fine-tuning on a labelled subset of the training split (the kNN bank
too): class-balanced and nested from config.eval.label_seed, or ImageNet's standard lists.
"""

import logging
import os
import time

import jax

from jaxssl import batch_streams, figures, frozen, jsonl
from jaxssl import experiment as experiment_lib
from jaxssl.checkpoint import Checkpointer, checkpoint_dir
from jaxssl.data import subsets
from jaxssl.evaluation import supervised
from jaxssl.models.classifier import Classifier
from jaxssl.models.network import has_classifier
from jaxssl.state import evaluated_weights

FEATURES = ("network", "pixels")
INITS = ("checkpoint", "random")
FROZEN_PROTOCOLS = ("knn", "linear_lbfgs", "health", "tsne", "classifier")
TRAINED_PROTOCOLS = ("linear_sgd", "finetune")
PROTOCOLS = FROZEN_PROTOCOLS + ("layers",) + TRAINED_PROTOCOLS + ("gallery", "reconstruction", "crops")
DEFAULT_PROTOCOLS = ("knn", "linear_lbfgs", "health")
RECORDS = "offline_eval.jsonl"
DESCRIPTIONS = {
    "knn": "weighted cosine kNN (InstDisc), grid of k and T, frozen features of the labelled train examples",
    "linear_lbfgs": "fast linear probe: L-BFGS logistic regression on cached standardised frozen features",
    "health": "representation health of the eval-split embedding: spread, RankMe, alignment, uniformity",
    "tsne": "t-SNE of eval-split backbone features coloured by class",
    "classifier": "the network's own classifier on the eval split (the EMA weights where the method evaluates them)",
    "layers": "per-layer linear probes: L-BFGS on each backbone feature map, average-pooled to a fixed size",
    "linear_sgd": "papers' linear probe: SGD+Nesterov, cosine, crop+flip, frozen backbone, centre-crop test",
    "finetune": "fine-tuning of the whole network: SGD+Nesterov, LARS or AdamW, cosine, crop+flip, centre-crop test",
    "gallery": "augmented views of the config's view preset",
    "reconstruction": "eval images, what the network saw of them (masked, or their lightness), what it rebuilt",
    "crops": "ContrastiveCrop: train images, the heat map of the network, the box the run holds, crops inside it",
}
KEY_SALTS = {"linear_sgd": 11, "finetune": 12}  # health: frozen.py; the figures': figures.py


def check_request(protocols, features: str, init: str, label_fraction: float) -> None:
    """ValueError for an unknown protocol, feature or init, a fraction outside (0, 1], or pixels with a
    protocol that trains a network."""
    unknown = sorted(set(protocols) - set(PROTOCOLS))
    if unknown or not protocols:
        raise ValueError(f"unknown protocol(s) {unknown or protocols}; choose from {list(PROTOCOLS)}")
    if features not in FEATURES or init not in INITS:
        raise ValueError(
            f"features must be one of {FEATURES} and init one of {INITS}; got {features!r}, {init!r}"
        )
    if not 0.0 < label_fraction <= 1.0:
        raise ValueError(f"label_fraction must lie in (0, 1], got {label_fraction}")
    if features == "pixels" and set(protocols) - (set(FROZEN_PROTOCOLS) - {"classifier"}):
        raise ValueError(
            "pixel features serve only the frozen-feature protocols: knn, linear_lbfgs, health, tsne"
        )


def network_state(exp, workdir: str, init: str):
    """The trained state from DIR's newest readable checkpoint, or the untrained network of the run's seed."""
    layout = experiment_lib.state_layout(exp)
    if init == "random":
        return experiment_lib.create_state(exp, layout)
    state = None
    if os.path.isdir(checkpoint_dir(workdir)):  # never create the directory just to find it empty
        checkpointer = Checkpointer(workdir, keep=None, identity=exp.identity)
        try:
            checkpointer.check_identity()
            state = checkpointer.restore_latest(layout)
        finally:
            checkpointer.close()
    if state is None:
        raise FileNotFoundError(
            f"no readable checkpoint in {workdir}/checkpoints; train first or pass "
            "--eval_init=random for the untrained network (or, with finetune, the supervised baseline)"
        )
    return state


def trained_record(protocol: str, exp, state, config, labelled) -> dict:
    """Trains a classifier on the labelled examples (frozen network for linear_sgd, the whole features path
    for finetune, from `state`'s network) and tests it on the eval split."""
    block = config.linear_sgd if protocol == "linear_sgd" else config.finetune
    recipe = supervised.Recipe(**block)
    classifier = Classifier(
        network=supervised.with_drop_path(exp.method.network, recipe.drop_path),
        num_classes=max(exp.info.num_classes, 1),
        train_backbone=protocol == "finetune",
    )
    train_batches = batch_streams.labelled_batches(
        exp,
        labelled,
        batch=recipe.batch_size,
        num_steps=recipe.steps(len(labelled.labels)),
        min_crop_scale=recipe.min_crop_scale,
    )
    params, batch_stats = evaluated_weights(state, exp.method.eval_weights)
    result = supervised.train_and_test(
        classifier,
        recipe=recipe,
        examples=len(labelled.labels),
        train_batches=train_batches,
        eval_batches=batch_streams.eval_batches(exp, exp.eval_source, config.eval.batch_size),
        image_size=exp.image_size,
        host_crop=exp.host_crop,
        channels=exp.info.image_shape[-1] or 3,
        mesh=exp.mesh,
        key=jax.random.fold_in(jax.random.key(exp.seed), KEY_SALTS[protocol]),
        pretrained=dict(params=params, batch_stats=batch_stats),
    )
    return {**result, "recipe": dict(block)}


def header(config, exp, *, features: str, init: str, step, label_fraction: float, labelled) -> dict:
    """What every record says about where its number comes from."""
    return {
        "features": features,
        "init": init if features == "network" else None,
        "step": step,
        "method": exp.method.name,
        "backbone": config.model.backbone,
        "width_multiplier": float(config.model.get("width_multiplier", 1.0)),
        "dataset": exp.info.name,
        "seed": exp.seed,
        "label_fraction": label_fraction,
        "label_seed": config.eval.label_seed,
        "labelled_examples": len(labelled.labels),
        "eval_examples": len(exp.eval_source.labels),
    }


def evaluate(
    config,
    workdir: str,
    *,
    protocols=DEFAULT_PROTOCOLS,
    features: str = "network",
    init: str = "checkpoint",
    label_fraction: float = 1.0,
) -> list[dict]:
    """Runs the protocols on DIR's newest checkpoint (or the untrained network, or raw pixels) and appends
    one line per protocol to DIR/offline_eval.jsonl; returns those records."""
    protocols = tuple(dict.fromkeys(protocols))
    check_request(protocols, features, init, label_fraction)
    exp = experiment_lib.prepare(config)
    labelled = subsets.labelled_subset(
        exp.train_source,
        dataset=config.data.dataset,
        fraction=label_fraction,
        seed=config.eval.label_seed,
        manual_dir=config.data.manual_dir or None,
    )
    if "reconstruction" in protocols and (features != "network" or exp.method.reconstruct is None):
        raise ValueError(
            f"the reconstruction protocol needs a masked image model's network; {exp.method.name} "
            f"({features} features) does not reconstruct"
        )
    if "crops" in protocols and (features != "network" or exp.crop_policy is None):
        raise ValueError(
            "the crops protocol draws ContrastiveCrop's boxes; this run has none (it was not trained with "
            f"crop=contrastive, or {features} features were asked for)"
        )
    if "classifier" in protocols and (features != "network" or not has_classifier(exp.method.network)):
        raise ValueError(
            f"the classifier protocol reads a network's own classifier; {exp.method.name}'s network has none "
            f"({features} features): use linear_lbfgs, linear_sgd or finetune"
        )
    needs_network = features == "network" and set(protocols) != {"gallery"}
    state = network_state(exp, workdir, init) if needs_network else None
    if jax.process_index() == 0:
        jsonl.check_appendable(os.path.join(workdir, RECORDS))
    common = header(
        config,
        exp,
        features=features,
        init=init,
        step=None if state is None else int(state.step),
        label_fraction=label_fraction,
        labelled=labelled,
    )
    title = (
        f"{exp.method.name}, {config.model.backbone}, {exp.info.name}" if features == "network" else "pixels"
    )
    records = []

    def record(protocol, start, results):
        records.append(
            {
                "protocol": protocol,
                "description": DESCRIPTIONS[protocol],
                **common,
                **results,
                "seconds": round(time.time() - start, 1),
            }
        )

    start = time.time()
    frozen_protocols = [p for p in protocols if p in FROZEN_PROTOCOLS]
    if frozen_protocols:
        for protocol, results in frozen.frozen_records(
            frozen_protocols, exp, state, config, labelled, workdir, title, common
        ).items():
            record(protocol, start, results)
    for protocol in protocols:
        start = time.time()
        if protocol in TRAINED_PROTOCOLS:
            record(protocol, start, trained_record(protocol, exp, state, config, labelled))
        elif protocol == "layers":
            record(protocol, start, frozen.layers_protocol_record(exp, state, config, labelled))
        elif protocol == "gallery":
            record(protocol, start, figures.gallery_record(exp, workdir, title))
        elif protocol == "reconstruction":
            record(protocol, start, figures.reconstruction_record(exp, state, workdir, title))
        elif protocol == "crops":
            record(protocol, start, figures.crops_record(exp, state, workdir, title))
    if jax.process_index() == 0:
        os.makedirs(workdir, exist_ok=True)
        jsonl.append(os.path.join(workdir, RECORDS), records)
    logging.info(
        "offline evaluation of %s%s:\n%s\nrecords appended to %s",
        title,
        "" if state is None else f" at step {int(state.step)}" + (" (untrained)" if init == "random" else ""),
        "\n".join(map(summary_of, records)),
        os.path.join(workdir, RECORDS),
    )
    return records


def summary_of(record: dict) -> str:
    """A protocol's headline numbers in one line: its top-1, or the health of the backbone's features, and
    where its figure went."""
    parts = [f"  {record['protocol']}:"]
    if "top1" in record:
        parts.append(f"top-1 {100 * record['top1']:.2f} %")
    if "layers" in record:
        parts.append(", ".join(f"{name} {100 * top1:.2f} %" for name, top1 in record["layers"].items()))
    if record["protocol"] == "knn":
        best = max(record["grid"]["backbone"].items(), key=lambda item: item[1])[0]
        parts.append(f"(best k/T {best})")
    if "spaces" in record:
        backbone = record["spaces"]["backbone"]
        parts.append(f"effective rank {backbone['effective_rank']:.1f}")
        parts.append("COLLAPSED" if record["collapsed"] else "not collapsed")
    if "png" in record:
        parts.append(record["png"])
    return " ".join(parts)
