"""The offline protocols on frozen features (knn, linear_lbfgs, health, tsne) from one embedding pass, and the
per-layer probes (layers) from a pass over the feature maps; evaluate.py runs them and keeps the records."""

import logging

import jax
import jax.numpy as jnp

from jaxssl import batch_streams, plots
from jaxssl import step as step_lib
from jaxssl.data import subsets
from jaxssl.evaluation import embed, health, knn, layers, linear
from jaxssl.models.network import has_classifier
from jaxssl.state import evaluated_weights

LAYER_FEATURES = (
    9216  # the per-layer probes' pooled size when config.eval.layer_features is absent (old runs)
)
HEALTH_KEY_SALT = 13  # the alignment pairs' augmentation draws: fold_in(key(seed), 13)


def pixel_embed(batch) -> dict:
    """Raw pixels in [0, 1], flattened: the baseline every representation must beat. An embedding like the
    network's, so that on a pod it too is gathered from every process's rows."""
    images = batch["image"][:, 0]
    features = images.reshape(images.shape[0], -1).astype(jnp.float32) / 255.0
    return {"features": features, "label": batch["label"], "mask": batch["mask"]}


def embeddings(exp, state, config, labelled, with_pairs: bool) -> dict:
    """{"train", "eval"}: each {"features", "label"} (and "projection" when config.eval.knn_spaces names the
    projector) of the labelled train examples and of the eval split, and with_pairs "pairs": backbone features
    of two augmented views of the first config.eval.health_examples eval examples (networks only; pixels have
    neither projection nor pairs)."""
    batch = config.eval.batch_size
    if state is None:
        pixels = embed.compile_embed(pixel_embed, exp.mesh)
        return {
            split: embed.embed_split(pixels, (), batch_streams.eval_batches(exp, source, batch), exp.mesh)
            for split, source in (("train", labelled), ("eval", exp.eval_source))
        }
    with_projection = "projector" in config.eval.knn_spaces
    result = embed_splits(
        exp,
        state,
        labelled,
        batch,
        step_lib.make_embed_fn(
            exp.method.network,
            exp.image_size,
            with_projection,
            with_logits=has_classifier(exp.method.network),
        ),
    )
    if with_pairs:
        result["pairs"] = view_pairs(exp, state, config)
    return result


def embed_splits(exp, state, labelled, batch: int, embed_fn) -> dict:
    """{"train", "eval"}: embed_fn's outputs on the labelled train examples and on the eval split."""
    compiled = embed.compile_embed(embed_fn, exp.mesh)
    args = evaluated_weights(state, exp.method.eval_weights)
    return {
        split: embed.embed_split(compiled, args, batch_streams.eval_batches(exp, source, batch), exp.mesh)
        for split, source in (("train", labelled), ("eval", exp.eval_source))
    }


def view_pairs(exp, state, config) -> dict:
    """Backbone features {"view_a", "view_b"} of two augmented views (the run's first two view specs) of the
    first config.eval.health_examples eval examples."""
    pair_fn = embed.compile_embed(step_lib.make_pair_embed_fn(exp.method.network, exp.view_specs), exp.mesh)
    head = subsets.first(exp.eval_source, config.eval.health_examples)
    key = jax.random.fold_in(jax.random.key(exp.seed), HEALTH_KEY_SALT)
    batches = batch_streams.eval_batches(exp, head, config.eval.batch_size)
    return embed.embed_split(
        pair_fn, evaluated_weights(state, exp.method.eval_weights), batches, exp.mesh, key=key
    )


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
    if "classifier" in protocols:
        results["classifier"] = {"top1": embed.classifier_top1(held_out)}
    if "tsne" in protocols:
        count = min(config.eval.tsne_examples, len(held_out["label"]))
        points = plots.tsne_embedding(held_out["features"][:count], seed=exp.seed)
        path = plots.figure_path(workdir, tsne_name(common))
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
