"""The protocols on frozen features (knn, linear_lbfgs, health, classifier, tsne), which share one embedding
pass, and the per-layer probes (layers), which make a pass of their own over the feature maps. Each takes a
context.Context; registry.py lists them."""

import logging

import jax
import jax.numpy as jnp

from jaxssl import batch_streams, catalog
from jaxssl import step as step_lib
from jaxssl.data import subsets
from jaxssl.models.network import has_classifier
from jaxssl.probes import accuracy, embed, health, knn, layers, linear
from jaxssl.report import plots
from jaxssl.rundir import files
from jaxssl.state import evaluated_weights

LAYER_FEATURES = (
    9216  # the per-layer probes' pooled size when config.eval.layer_features is absent (old runs)
)
FEATURE_SPACES = {"backbone": "features", "projector": "projection"}  # kNN's spaces and their embedding keys


def pixel_embed(batch) -> dict:
    """Raw pixels in [0, 1], flattened: the baseline every representation must beat. An embedding like the
    network's, so that on a pod it too is gathered from every process's rows."""
    images = batch["image"][:, 0]
    features = images.reshape(images.shape[0], -1).astype(jnp.float32) / 255.0
    return {"features": features, "label": batch["label"], "mask": batch["mask"]}


def embeddings(context) -> dict:
    """{"train", "eval"}: each {"features", "label"} (and "projection" when config.eval.knn_spaces names the
    projector; "logits" for a network with its own classifier) of the labelled train examples and of the eval
    split; raw pixels when the context holds no state."""
    exp, config = context.exp, context.config
    if context.state is None:
        pixels = embed.compile_embed(pixel_embed, exp.mesh)
        return {
            split: embed.embed_split(
                pixels, (), batch_streams.eval_batches(exp, source, config.eval.batch_size), exp.mesh
            )
            for split, source in (("train", context.labelled), ("eval", exp.eval_source))
        }
    embed_fn = step_lib.make_embed_fn(
        exp.method.network,
        exp.image_size,
        "projector" in config.eval.knn_spaces,
        with_logits=has_classifier(exp.method.network),
    )
    return embed_splits(context, embed_fn)


def embed_splits(context, embed_fn) -> dict:
    """{"train", "eval"}: embed_fn's outputs on the labelled train examples and on the eval split."""
    exp = context.exp
    compiled = embed.compile_embed(embed_fn, exp.mesh)
    args = evaluated_weights(context.state, exp.method.eval_weights)
    return {
        split: embed.embed_split(
            compiled, args, batch_streams.eval_batches(exp, source, context.config.eval.batch_size), exp.mesh
        )
        for split, source in (("train", context.labelled), ("eval", exp.eval_source))
    }


def frozen_records(protocols: dict, context) -> dict:
    """{name: results} of the frozen-feature protocols ({name: registry.Protocol}), in their order, from one
    embedding pass."""
    found = embeddings(context)
    return {
        name: protocol.record(context.keyed(protocol.key_salt), found) for name, protocol in protocols.items()
    }


def knn_record(context, found: dict) -> dict:
    """The grid's top-1 per feature space ("k/T" keys), the best (k, T) of each, and the headline top1:
    the backbone's best."""
    train, held_out = found["train"], found["eval"]
    record = {"grid": {}, "best": {}}
    for space, key in FEATURE_SPACES.items():
        if key not in train:
            continue
        grid = knn.knn_grid(
            train[key],
            train["label"],
            held_out[key],
            held_out["label"],
            num_classes=max(context.exp.info.num_classes, 1),
            ks=tuple(context.config.eval.knn_ks),
            temperatures=tuple(context.config.eval.knn_temperatures),
        )
        record["grid"][space] = {f"{k}/{t}": top1 for (k, t), top1 in grid.items()}
        (k, t), top1 = max(grid.items(), key=lambda item: item[1])
        record["best"][space] = {"k": k, "temperature": t, "top1": top1}
    record["top1"] = record["best"]["backbone"]["top1"]
    return record


def linear_lbfgs_record(context, found: dict) -> dict:
    """The L-BFGS linear probe's top-1 on the backbone's features."""
    eval_config = context.config.eval
    top1 = linear.linear_probe_top1(
        found["train"]["features"],
        found["train"]["label"],
        found["eval"]["features"],
        found["eval"]["label"],
        num_classes=max(context.exp.info.num_classes, 1),
        l2=eval_config.linear_l2,
        steps=eval_config.linear_steps,
    )
    return {"top1": top1, "l2": eval_config.linear_l2, "steps": eval_config.linear_steps}


def view_pairs(context) -> dict:
    """Backbone features {"view_a", "view_b"} of two augmented views (the run's first two view specs) of the
    first config.eval.health_examples eval examples, drawn with the context's key."""
    exp, config = context.exp, context.config
    pair_fn = embed.compile_embed(step_lib.make_pair_embed_fn(exp.method.network, exp.view_specs), exp.mesh)
    head = subsets.first(exp.eval_source, config.eval.health_examples)
    batches = batch_streams.eval_batches(exp, head, config.eval.batch_size)
    return embed.embed_split(
        pair_fn, evaluated_weights(context.state, exp.method.eval_weights), batches, exp.mesh, key=context.key
    )


def health_record(context, found: dict) -> dict:
    """Health of the eval-split embedding per feature space (the backbone's with the alignment of two views,
    networks only; the projector's spread and rank), with a warning logged when the backbone's collapses."""
    examples = context.config.eval.health_examples
    held_out = found["eval"]
    pairs = {} if context.state is None else view_pairs(context)
    spaces = {
        "backbone": health.health(held_out["features"][:examples], pairs.get("view_a"), pairs.get("view_b"))
    }
    if "projection" in held_out:
        spaces["projector"] = health.health(held_out["projection"][:examples])
    message = health.collapse_message(spaces["backbone"])
    if message:
        logging.warning(message)
    return {"spaces": spaces, "collapsed": spaces["backbone"]["collapsed"]}


def classifier_record(context, found: dict) -> dict:
    """The top-1 (and top-5 beyond five classes) of the network's own classifier on the eval split."""
    del context
    return accuracy.accuracies(found["eval"]["logits"], found["eval"]["label"])


def tsne_name(header: dict) -> str:
    """tsne_step<step>[_random] for a network, tsne_pixels for pixels."""
    if header["step"] is None:
        return "tsne_pixels"
    return f"tsne_step{header['step']}" + ("_random" if header["init"] == "random" else "")


def tsne_record(context, found: dict) -> dict:
    """A t-SNE of the first config.eval.tsne_examples eval-split embeddings, coloured by class (named where the
    dataset's classes have names: catalog.CLASS_NAMES), drawn into DIR/plots/tsne_step<step>[_random].png
    (tsne_pixels.png for pixels)."""
    held_out = found["eval"]
    count = min(context.config.eval.tsne_examples, len(held_out["label"]))
    points = plots.tsne_embedding(held_out["features"][:count], seed=context.exp.seed)
    path = files.figure_path(context.workdir, tsne_name(context.header))
    if jax.process_index() == 0:
        plots.tsne_plot(
            points,
            held_out["label"][:count],
            path,
            f"t-SNE of {count} test embeddings: {context.title}",
            catalog.CLASS_NAMES.get(context.config.data.dataset, ()),
        )
    return {"png": path, "examples": count}


def layer_probes_record(context) -> dict:
    """The per-layer probes of the network's feature maps (probes/layers.py)."""
    config = context.config
    max_features = config.eval.get("layer_features", LAYER_FEATURES)
    embed_fn = layers.make_layer_embed_fn(context.exp.method.network, context.exp.image_size, max_features)
    found = embed_splits(context, embed_fn)
    return layers.layers_record(
        found["train"],
        found["eval"],
        num_classes=max(context.exp.info.num_classes, 1),
        l2=config.eval.linear_l2,
        steps=config.eval.linear_steps,
        max_features=max_features,
    )
