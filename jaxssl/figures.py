"""The figure protocols of offline evaluation (jaxssl/evaluate.py): each draws a PNG into DIR/plots/ (never
overwriting an earlier one) and returns its record.

  gallery         the views the config's augmentation makes of a few training images
  reconstruction  masked image models and colorization: a few eval images, what the network saw of them
                  (masked, or their lightness) and what it rebuilt
  crops           ContrastiveCrop: a few training images, the network's heat maps and the boxes
"""

import dataclasses

import jax
import numpy as np

from jaxssl import augment, batch_streams, plots, sharding
from jaxssl import step as step_lib
from jaxssl.augment import crops
from jaxssl.data import subsets
from jaxssl.state import evaluated_weights

GALLERY_IMAGES = 6
KEY_SALTS = {"gallery": 14, "reconstruction": 15, "crops": 16}  # apart from evaluate.py's and frozen.py's


def gallery_record(exp, workdir: str, title: str) -> dict:
    """Draws the run's views of GALLERY_IMAGES training images spread over the split into
    DIR/plots/augmentations*.png."""
    head = subsets.spread(exp.train_source, GALLERY_IMAGES)
    batch = batch_streams.whole_batch(exp, head)
    key = jax.random.fold_in(jax.random.key(exp.seed), KEY_SALTS["gallery"])
    specs = tuple(dataclasses.replace(spec, random_crop=True) for spec in exp.view_specs)
    views = [np.asarray(view) for view in augment.make_views(key, batch["image"], specs)]
    path = plots.figure_path(workdir, "augmentations")
    if jax.process_index() == 0:
        plots.gallery_plot(batch["image"][:, 0], views, path, title)
    return {"png": path, "views": len(specs), "images": GALLERY_IMAGES}


def reconstruction_record(exp, state, workdir: str, title: str) -> dict:
    """Draws GALLERY_IMAGES eval images spread over the split (centre view) and the method's reconstruction
    columns (a masked image model: the images masked as in pretraining and rebuilt; colorization: the
    lightness the network sees and its colours) into DIR/plots/reconstruction_step<step>*.png."""
    head = subsets.spread(exp.eval_source, GALLERY_IMAGES)
    batch = batch_streams.whole_batch(exp, head)
    images = augment.center_view(batch["image"][:, 0], exp.image_size)
    key = jax.random.fold_in(jax.random.key(exp.seed), KEY_SALTS["reconstruction"])
    params, batch_stats = evaluated_weights(state, exp.method.eval_weights)
    variables = sharding.host_copy({"params": params, "batch_stats": batch_stats})
    rows = jax.jit(exp.method.reconstruct)(variables, images, key)
    columns = [np.asarray(images), *map(np.asarray, rows.values())]
    path = plots.figure_path(workdir, f"reconstruction_step{int(state.step)}")
    if jax.process_index() == 0:
        plots.gallery_plot(batch["image"][:, 0], columns, path, title, ("input", *rows))
    return {"png": path, "images": GALLERY_IMAGES}


def crops_record(exp, state, workdir: str, title: str) -> dict:
    """Draws ContrastiveCrop's view of the first GALLERY_IMAGES training images into DIR/plots/crops_step<step>*.png:
    each image with the box the run holds for it, the heat map of the checkpoint's network with the box that map
    gives, and two crops drawn inside the held box as training draws them. The record gives the mean area of
    every training example's held box (a fraction of the image) and the fraction of boxes that are the whole
    image."""
    head = subsets.first(exp.train_source, GALLERY_IMAGES)
    batch = batch_streams.whole_batch(exp, head)
    # The fields the figure reads, whole on every process (a memory or a large weight is split over them).
    state = sharding.host_copy(state.replace(target={}, opt_state={}, extra={}))
    policy, indices = exp.crop_policy, np.arange(len(batch["label"]))
    whole = augment.whole_view(batch["image"][:, 0], exp.image_size)
    maps = jax.jit(lambda s, x: step_lib.last_feature_map(exp.method.network, s, x))(state, whole)
    heat, located = map(np.asarray, crops.locate(maps, exp.image_size, exp.image_size, policy.threshold))
    bounds = policy.bounds(state.crop, indices)
    key = jax.random.fold_in(jax.random.key(exp.seed), KEY_SALTS["crops"])
    views = augment.make_views(key, batch["image"], exp.view_specs[:2], bounds)
    held = np.asarray(bounds[0])
    path = plots.figure_path(workdir, f"crops_step{int(state.step)}")
    if jax.process_index() == 0:
        plots.boxes_plot(
            batch["image"][:, 0], held, heat, located, [np.asarray(v) for v in views], path, title
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
