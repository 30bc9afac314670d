"""The figure protocols of offline evaluation: each draws a PNG into DIR/plots/ (never overwriting an earlier
one) and returns its record. Each takes a context.Context, its key the protocol's own (registry.py).

  gallery         the views the config's augmentation makes of a few training images
  reconstruction  masked image models and colorization: a few eval images, what the network saw of them
                  (masked, or their lightness) and what it rebuilt
  crops           ContrastiveCrop: a few training images, the network's heat maps and the boxes
"""

import dataclasses

import jax
import numpy as np

from jaxssl import augment, batch_streams, sharding
from jaxssl import step as step_lib
from jaxssl.augment import crops
from jaxssl.data import subsets
from jaxssl.report import plots
from jaxssl.rundir import files
from jaxssl.state import evaluated_weights

GALLERY_IMAGES = 6


def gallery_record(context) -> dict:
    """Draws the run's views of GALLERY_IMAGES training images spread over the split into
    DIR/plots/augmentations*.png."""
    exp = context.exp
    head = subsets.spread(exp.train_source, GALLERY_IMAGES)
    batch = batch_streams.whole_batch(exp, head)
    specs = tuple(dataclasses.replace(spec, random_crop=True) for spec in exp.view_specs)
    views = [np.asarray(view) for view in augment.make_views(context.key, batch["image"], specs)]
    path = files.figure_path(context.workdir, "augmentations")
    if jax.process_index() == 0:
        plots.gallery_plot(batch["image"][:, 0], views, path, context.title)
    return {"png": path, "views": len(specs), "images": GALLERY_IMAGES}


def reconstruction_record(context) -> dict:
    """Draws GALLERY_IMAGES eval images spread over the split (centre view) and the method's reconstruction
    columns (a masked image model: the images masked as in pretraining and rebuilt; colorization: the
    lightness the network sees and its colours) into DIR/plots/reconstruction_step<step>*.png."""
    exp, state = context.exp, context.state
    head = subsets.spread(exp.eval_source, GALLERY_IMAGES)
    batch = batch_streams.whole_batch(exp, head)
    images = augment.center_view(batch["image"][:, 0], exp.image_size)
    params, batch_stats = evaluated_weights(state, exp.method.eval_weights)
    variables = sharding.host_copy({"params": params, "batch_stats": batch_stats})
    rows = jax.jit(exp.method.reconstruct)(variables, images, context.key)
    columns = [np.asarray(images), *map(np.asarray, rows.values())]
    path = files.figure_path(context.workdir, f"reconstruction_step{int(state.step)}")
    if jax.process_index() == 0:
        plots.gallery_plot(batch["image"][:, 0], columns, path, context.title, ("input", *rows))
    return {"png": path, "images": GALLERY_IMAGES}


def crops_record(context) -> dict:
    """Draws ContrastiveCrop's view of the first GALLERY_IMAGES training images into DIR/plots/crops_step<step>*.png:
    each image with the box the run holds for it, the heat map of the checkpoint's network with the box that map
    gives, and two crops drawn inside the held box as training draws them. The record gives the mean area of
    every training example's held box (a fraction of the image) and the fraction of boxes that are the whole
    image."""
    exp = context.exp
    head = subsets.first(exp.train_source, GALLERY_IMAGES)
    batch = batch_streams.whole_batch(exp, head)
    # The fields the figure reads, whole on every process (a memory or a large weight is split over them).
    state = sharding.host_copy(context.state.replace(target={}, opt_state={}, extra={}))
    policy, indices = exp.crop_policy, np.arange(len(batch["label"]))
    whole = augment.whole_view(batch["image"][:, 0], exp.image_size)
    maps = jax.jit(lambda s, x: step_lib.last_feature_map(exp.method.network, s, x))(state, whole)
    heat, located = map(np.asarray, crops.locate(maps, exp.image_size, exp.image_size, policy.threshold))
    bounds = policy.bounds(state.crop, indices)
    views = augment.make_views(context.key, batch["image"], exp.view_specs[:2], bounds)
    held = np.asarray(bounds[0])
    path = files.figure_path(context.workdir, f"crops_step{int(state.step)}")
    if jax.process_index() == 0:
        plots.boxes_plot(
            batch["image"][:, 0], held, heat, located, [np.asarray(v) for v in views], path, context.title
        )
    boxes = state.crop["boxes"]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return {
        "png": path,
        "images": GALLERY_IMAGES,
        "boxes_located": bool(int(state.crop["located"])),
        "mean_box_area": float(np.mean(areas)),
        "whole_image_boxes": float(np.mean(areas > 0.99)),
    }
