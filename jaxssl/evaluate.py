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

label_fraction < 1 trains probes and fine-tuning on a labelled subset of the training split (the kNN bank
too): class-balanced and nested from config.eval.label_seed, or ImageNet's standard lists.
"""

import dataclasses
import logging
import os
import time

import jax
import numpy as np

from jaxssl import augment, jsonl, plots
from jaxssl import experiment as experiment_lib
from jaxssl import step as step_lib
from jaxssl.checkpoint import Checkpointer, checkpoint_dir
from jaxssl.data import subsets
from jaxssl.evaluation import embed, health, knn, layers, linear, supervised
from jaxssl.models.classifier import Classifier

FEATURES = ("network", "pixels")
INITS = ("checkpoint", "random")
FROZEN_PROTOCOLS = ("knn", "linear_lbfgs", "health", "tsne")
TRAINED_PROTOCOLS = ("linear_sgd", "finetune")
PROTOCOLS = FROZEN_PROTOCOLS + ("layers",) + TRAINED_PROTOCOLS + ("gallery", "reconstruction")
DEFAULT_PROTOCOLS = ("knn", "linear_lbfgs", "health")
RECORDS = "offline_eval.jsonl"
DESCRIPTIONS = {
    "knn": "weighted cosine kNN (InstDisc), grid of k and T, frozen features of the labelled train examples",
    "linear_lbfgs": "fast linear probe: L-BFGS logistic regression on cached standardised frozen features",
    "health": "representation health of the eval-split embedding: spread, RankMe, alignment, uniformity",
    "tsne": "t-SNE of eval-split backbone features coloured by class",
    "layers": "per-layer linear probes: L-BFGS on each backbone feature map, average-pooled to a fixed size",
    "linear_sgd": "papers' linear probe: SGD+Nesterov, cosine, crop+flip, frozen backbone, centre-crop test",
    "finetune": "fine-tuning of the whole network: SGD+Nesterov, LARS or AdamW, cosine, crop+flip, centre-crop test",
    "gallery": "augmented views of the config's view preset",
    "reconstruction": "eval images, what the network saw of them (masked, or their lightness), what it rebuilt",
}
GALLERY_IMAGES = 6
LAYER_FEATURES = (
    9216  # the per-layer probes' pooled size when config.eval.layer_features is absent (old runs)
)
KEY_SALTS = {"linear_sgd": 11, "finetune": 12, "health": 13, "gallery": 14, "reconstruction": 15}


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
    if features == "pixels" and set(protocols) - set(FROZEN_PROTOCOLS):
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


def pixel_features(batches) -> dict:
    """Raw pixels in [0, 1], flattened: the baseline every representation must beat."""
    features, labels = [], []
    for batch in batches:
        mask = batch["mask"]
        features.append(batch["image"][mask].reshape(int(mask.sum()), -1).astype(np.float32) / 255.0)
        labels.append(batch["label"][mask])
    return {"features": np.concatenate(features), "label": np.concatenate(labels)}


def embeddings(exp, state, config, labelled, with_pairs: bool) -> dict:
    """{"train", "eval"}: each {"features", "label"} (and "projection" when config.eval.knn_spaces names the
    projector) of the labelled train examples and of the eval split, and with_pairs "pairs": backbone features
    of two augmented views of the first config.eval.health_examples eval examples (networks only; pixels have
    neither projection nor pairs)."""
    batch = config.eval.batch_size
    if state is None:
        return {
            split: pixel_features(experiment_lib.eval_batches(exp, source, batch))
            for split, source in (("train", labelled), ("eval", exp.eval_source))
        }
    with_projection = "projector" in config.eval.knn_spaces
    result = embed_splits(
        exp,
        state,
        labelled,
        batch,
        step_lib.make_embed_fn(exp.method.network, exp.image_size, with_projection),
    )
    if with_pairs:
        result["pairs"] = view_pairs(exp, state, config)
    return result


def embed_splits(exp, state, labelled, batch: int, embed_fn) -> dict:
    """{"train", "eval"}: embed_fn's outputs on the labelled train examples and on the eval split."""
    compiled = embed.compile_embed(embed_fn, exp.mesh)
    args = (state.params["model"], state.batch_stats)
    return {
        split: embed.embed_split(compiled, args, experiment_lib.eval_batches(exp, source, batch), exp.mesh)
        for split, source in (("train", labelled), ("eval", exp.eval_source))
    }


def layers_protocol_record(exp, state, config, labelled) -> dict:
    """The per-layer probes of the network's feature maps (evaluation/layers.py)."""
    max_features = config.eval.get("layer_features", LAYER_FEATURES)
    embed_fn = layers.make_layer_embed_fn(exp.method.network, exp.image_size, max_features)
    found = embed_splits(exp, state, labelled, config.eval.batch_size, embed_fn)
    return layers.layers_record(
        found["train"],
        found["eval"],
        num_classes=max(exp.info.num_classes, 1),
        l2=config.eval.linear_l2,
        steps=config.eval.linear_steps,
        max_features=max_features,
    )


def view_pairs(exp, state, config) -> dict:
    """Backbone features {"view_a", "view_b"} of two augmented views (the run's first two view specs) of the
    first config.eval.health_examples eval examples."""
    pair_fn = embed.compile_embed(step_lib.make_pair_embed_fn(exp.method.network, exp.view_specs), exp.mesh)
    head = subsets.first(exp.eval_source, config.eval.health_examples)
    key = jax.random.fold_in(jax.random.key(exp.seed), KEY_SALTS["health"])
    batches = experiment_lib.eval_batches(exp, head, config.eval.batch_size)
    return embed.embed_split(pair_fn, (state.params["model"], state.batch_stats), batches, exp.mesh, key=key)


def knn_record(spaces: dict, num_classes: int, ks, temperatures) -> dict:
    """The grid's top-1 per feature space ("k/T" keys), the best (k, T) of each, and the headline top1:
    the backbone's best."""
    record = {"grid": {}, "best": {}}
    for space, (bank_x, bank_y, query_x, query_y) in spaces.items():
        grid = knn.knn_grid(
            bank_x, bank_y, query_x, query_y, num_classes=num_classes, ks=ks, temperatures=temperatures
        )
        record["grid"][space] = {f"{k}/{t}": top1 for (k, t), top1 in grid.items()}
        (k, t), top1 = max(grid.items(), key=lambda item: item[1])
        record["best"][space] = {"k": k, "temperature": t, "top1": top1}
    record["top1"] = record["best"]["backbone"]["top1"]
    return record


def figure_path(workdir: str, name: str) -> str:
    """DIR/plots/<name>.png, or <name>_1.png, _2... rather than overwrite an earlier figure."""
    stem = os.path.join(workdir, "plots", name)
    path, index = stem + ".png", 1
    while os.path.exists(path):
        path, index = f"{stem}_{index}.png", index + 1
    return path


def tsne_name(common: dict) -> str:
    """tsne_step<step>[_random] for a network, tsne_pixels for pixels."""
    if common["step"] is None:
        return "tsne_pixels"
    return f"tsne_step{common['step']}" + ("_random" if common["init"] == "random" else "")


def frozen_records(protocols, exp, state, config, labelled, workdir: str, title: str, common: dict) -> dict:
    """{protocol: results} of the frozen-feature protocols, from one embedding pass."""
    found = embeddings(exp, state, config, labelled, with_pairs="health" in protocols)
    train, held_out = found["train"], found["eval"]
    num_classes = max(exp.info.num_classes, 1)
    spaces = {"backbone": "features", "projector": "projection"}
    results = {}
    if "knn" in protocols:
        results["knn"] = knn_record(
            {
                space: (train[key], train["label"], held_out[key], held_out["label"])
                for space, key in spaces.items()
                if key in train
            },
            num_classes,
            tuple(config.eval.knn_ks),
            tuple(config.eval.knn_temperatures),
        )
    if "linear_lbfgs" in protocols:
        top1 = linear.linear_probe_top1(
            train["features"],
            train["label"],
            held_out["features"],
            held_out["label"],
            num_classes=num_classes,
            l2=config.eval.linear_l2,
            steps=config.eval.linear_steps,
        )
        results["linear_lbfgs"] = {
            "top1": top1,
            "l2": config.eval.linear_l2,
            "steps": config.eval.linear_steps,
        }
    if "health" in protocols:
        results["health"] = health_record(found, config.eval.health_examples)
    if "tsne" in protocols:
        count = min(config.eval.tsne_examples, len(held_out["label"]))
        points = plots.tsne_embedding(held_out["features"][:count], seed=exp.seed)
        path = figure_path(workdir, tsne_name(common))
        if jax.process_index() == 0:
            plots.tsne_plot(
                points, held_out["label"][:count], path, f"t-SNE of {count} test embeddings: {title}"
            )
        results["tsne"] = {"png": path, "examples": count}
    return results


def health_record(found: dict, examples: int) -> dict:
    """Health of the eval-split embedding per feature space (the backbone's with the alignment of two views;
    the projector's spread and rank), with a warning logged when the backbone's collapses."""
    held_out = found["eval"]
    pairs = found.get("pairs", {})
    spaces = {
        "backbone": health.health(held_out["features"][:examples], pairs.get("view_a"), pairs.get("view_b"))
    }
    if "projection" in held_out:
        spaces["projector"] = health.health(held_out["projection"][:examples])
    message = health.collapse_message(spaces["backbone"])
    if message:
        logging.warning(message)
    return {"spaces": spaces, "collapsed": spaces["backbone"]["collapsed"]}


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
    train_batches = experiment_lib.labelled_batches(
        exp,
        labelled,
        batch=recipe.batch_size,
        num_steps=recipe.steps(len(labelled.labels)),
        min_crop_scale=recipe.min_crop_scale,
    )
    result = supervised.train_and_test(
        classifier,
        recipe=recipe,
        examples=len(labelled.labels),
        train_batches=train_batches,
        eval_batches=experiment_lib.eval_batches(exp, exp.eval_source, config.eval.batch_size),
        image_size=exp.image_size,
        host_crop=exp.host_crop,
        channels=exp.info.image_shape[-1] or 3,
        mesh=exp.mesh,
        key=jax.random.fold_in(jax.random.key(exp.seed), KEY_SALTS[protocol]),
        pretrained={"params": state.params["model"], "batch_stats": state.batch_stats},
    )
    return {**result, "recipe": dict(block)}


def gallery_record(exp, workdir: str, title: str) -> dict:
    """Draws the run's views of the first GALLERY_IMAGES training images into DIR/plots/augmentations*.png."""
    head = subsets.first(exp.train_source, GALLERY_IMAGES)
    batch = next(iter(experiment_lib.eval_batches(exp, head, GALLERY_IMAGES)))
    key = jax.random.fold_in(jax.random.key(exp.seed), KEY_SALTS["gallery"])
    specs = tuple(dataclasses.replace(spec, random_crop=True) for spec in exp.view_specs)
    views = [np.asarray(view) for view in augment.make_views(key, batch["image"], specs)]
    path = figure_path(workdir, "augmentations")
    if jax.process_index() == 0:
        plots.gallery_plot(batch["image"][:, 0], views, path, title)
    return {"png": path, "views": len(specs), "images": GALLERY_IMAGES}


def reconstruction_record(exp, state, workdir: str, title: str) -> dict:
    """Draws the first GALLERY_IMAGES eval images (centre view) and the method's reconstruction columns (a
    masked image model: the images masked as in pretraining and rebuilt; colorization: the lightness the
    network sees and its colours) into DIR/plots/reconstruction_step<step>*.png."""
    head = subsets.first(exp.eval_source, GALLERY_IMAGES)
    batch = next(iter(experiment_lib.eval_batches(exp, head, GALLERY_IMAGES)))
    images = augment.center_view(batch["image"][:, 0], exp.image_size)
    key = jax.random.fold_in(jax.random.key(exp.seed), KEY_SALTS["reconstruction"])
    variables = {"params": state.params["model"], "batch_stats": state.batch_stats}
    rows = jax.jit(exp.method.reconstruct)(variables, images, key)
    columns = [np.asarray(images), *map(np.asarray, rows.values())]
    path = figure_path(workdir, f"reconstruction_step{int(state.step)}")
    if jax.process_index() == 0:
        plots.gallery_plot(batch["image"][:, 0], columns, path, title, ("input", *rows))
    return {"png": path, "images": GALLERY_IMAGES}


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
    frozen = [p for p in protocols if p in FROZEN_PROTOCOLS]
    if frozen:
        for protocol, results in frozen_records(
            frozen, exp, state, config, labelled, workdir, title, common
        ).items():
            record(protocol, start, results)
    for protocol in protocols:
        start = time.time()
        if protocol in TRAINED_PROTOCOLS:
            record(protocol, start, trained_record(protocol, exp, state, config, labelled))
        elif protocol == "layers":
            record(protocol, start, layers_protocol_record(exp, state, config, labelled))
        elif protocol == "gallery":
            record(protocol, start, gallery_record(exp, workdir, title))
        elif protocol == "reconstruction":
            record(protocol, start, reconstruction_record(exp, state, workdir, title))
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
