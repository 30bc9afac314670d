"""Offline evaluation of a run: kNN (k = 20 and 200) and a linear probe on frozen features of the whole
train split, tested on the eval split, and the spread of the eval features (collapse check). Results are
appended to DIR/offline_eval.jsonl."""

import json
import logging
import os
import time

import jax
import numpy as np

from jaxssl import experiment as experiment_lib
from jaxssl import step as step_lib
from jaxssl.checkpoint import Checkpointer, checkpoint_dir
from jaxssl.evaluation import embed, knn, linear

FEATURES = ("network", "pixels")
INITS = ("checkpoint", "random")


def pixel_features(batches) -> tuple[np.ndarray, np.ndarray]:
    """Raw pixels in [0, 1], flattened: the baseline every representation must beat."""
    features, labels = [], []
    for batch in batches:
        mask = batch["mask"]
        features.append(batch["image"][mask].reshape(int(mask.sum()), -1).astype(np.float32) / 255.0)
        labels.append(batch["label"][mask])
    return np.concatenate(features), np.concatenate(labels)


def feature_spread(features: np.ndarray) -> dict:
    """Collapse check (SimSiam, Chen & He 2021, section 4.1): per-dimension std of the L2-normalised features,
    averaged over dimensions, and the smallest one; an isotropic spread gives 1 / sqrt(D), collapse 0."""
    norms = np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    std = np.std(features / norms, axis=0)
    return {
        "feature_std_mean": float(np.mean(std)),
        "feature_std_min": float(np.min(std)),
        "feature_std_isotropic": float(1.0 / np.sqrt(features.shape[1])),
    }


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
            "--eval_init=random for the untrained baseline"
        )
    return state


def evaluate(config, workdir: str, *, features: str = "network", init: str = "checkpoint") -> dict:
    """Computes and records the offline kNN and linear-probe top-1 of one representation."""
    if features not in FEATURES or init not in INITS:
        raise ValueError(
            f"features must be one of {FEATURES} and init one of {INITS}; got {features!r}, {init!r}"
        )
    exp = experiment_lib.prepare(config)
    start = time.time()
    batch = config.eval.batch_size
    if features == "pixels":
        step = None
        train_x, train_y = pixel_features(experiment_lib.eval_batches(exp, exp.train_source, batch))
        test_x, test_y = pixel_features(experiment_lib.eval_batches(exp, exp.eval_source, batch))
    else:
        state = network_state(exp, workdir, init)
        step = int(state.step)
        compiled = embed.compile_embed(step_lib.make_embed_fn(exp.method.network, exp.image_size), exp.mesh)
        args = (compiled, state.params["model"], state.batch_stats)
        train_x, train_y = embed.embed_split(
            *args, experiment_lib.eval_batches(exp, exp.train_source, batch), exp.mesh
        )
        test_x, test_y = embed.embed_split(
            *args, experiment_lib.eval_batches(exp, exp.eval_source, batch), exp.mesh
        )
    num_classes = max(exp.info.num_classes, 1)
    result = {
        "features": features,
        "init": init if features == "network" else None,
        "step": step,
        "dataset": exp.info.name,
        "train_examples": len(train_y),
        "eval_examples": len(test_y),
        "feature_dim": int(train_x.shape[1]),
        **feature_spread(test_x),
    }
    for k in (20, 200):
        result[f"knn_top1_k{k}"] = knn.knn_top1(
            train_x,
            train_y,
            test_x,
            test_y,
            num_classes=num_classes,
            k=k,
            temperature=config.eval.knn_temperature,
        )
    result["knn_temperature"] = config.eval.knn_temperature
    result["linear_top1"] = linear.linear_probe_top1(
        train_x,
        train_y,
        test_x,
        test_y,
        num_classes=num_classes,
        l2=config.eval.linear_l2,
        steps=config.eval.linear_steps,
    )
    result["seconds"] = round(time.time() - start, 1)
    if jax.process_index() == 0:
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "offline_eval.jsonl"), "a") as f:
            f.write(json.dumps(result) + "\n")
    logging.info("offline evaluation: %s", result)
    return result
