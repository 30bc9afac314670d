"""The few-shot protocols on frozen features (registry.py lists them), from the shared embedding pass:

fewshot: N-shot probes. For each seed of config.fewshot.seeds and each shot count N of config.fewshot.shots,
N labelled training examples of every class (subsets.per_class_indices: nested across N, like the label
fractions), a probe on their frozen features (the L-BFGS logistic regression of linear_lbfgs, or the
closed-form ridge probe) tested on the eval split; one record per N with the mean and std over the seeds
(the label-efficient probes of MSN, Assran et al. 2022, and big_vision's few-shot probe).

episodes: N-way K-shot episodes with Q queries per class from the novel classes (config.fewshot.novel_classes)
of the eval split, episode e of K shots a pure function of (config.eval.label_seed, K, e); the queries are
classified from the support set by nearest prototype (Snell et al. 2017; Euclidean and cosine), by a logistic
regression fitted on the support features, and (networks only, K in config.fewshot.finetune_shots) by
fine-tuning the network on the support set (probes/episode_finetune.py, on the first finetune_episodes
episodes), and (a method with its own episode classifier, Method.adapt_episode: MAML's inner loop) by that
classifier on every episode. One record per K: each classifier's mean accuracy and 95 % confidence interval
over the episodes.
"""

import logging

import jax
import jax.numpy as jnp
import numpy as np

from jaxssl import augment, batch_streams
from jaxssl.data import episodes, subsets
from jaxssl.data.episodes import sample_episode
from jaxssl.probes import episode_finetune, linear
from jaxssl.probes import fewshot as kernels
from jaxssl.probes.fewshot import prototype_classify
from jaxssl.state import evaluated_weights

__all__ = ["prototype_classify", "sample_episode"]


def block_of(config):
    """config.fewshot, or a one-line ValueError for a config written before the few-shot protocols."""
    if "fewshot" not in config:
        raise ValueError(
            "the config has no fewshot block (it was written before the few-shot protocols): pass "
            "--config=configs/<the run's config>.py:<its options>"
        )
    return config.fewshot


def class_counts(labels) -> dict:
    """{class: examples} of the labelled (>= 0) entries of `labels`."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels[labels >= 0], return_counts=True)
    return dict(zip(classes.tolist(), counts.tolist(), strict=True))


def check_fewshot(config, exp, labelled) -> None:
    """One line when the N-shot probes cannot be drawn: no labelled training example, or a shot count
    larger than a class of the labelled training examples."""
    block = block_of(config)
    counts = class_counts(labelled.labels)
    if not counts:
        raise ValueError(
            f"the fewshot protocol needs labelled training examples; {exp.info.name}'s have none"
        )
    smallest = min(counts, key=counts.get)
    if max(block.shots) > counts[smallest]:
        raise ValueError(
            f"config.fewshot.shots asks {max(block.shots)} examples per class, but class {smallest} of the "
            f"labelled training examples has {counts[smallest]}"
        )


def check_episodes(config, exp, labelled) -> None:
    """One line when the episodes cannot be drawn from the eval split: no labels, no novel classes, more
    ways than novel classes, more shots + queries than a novel class has (episodes.check_episode)."""
    del labelled
    block = block_of(config)
    labels = exp.eval_source.labels
    if not class_counts(labels):
        raise ValueError(f"the episodes protocol needs a labelled eval split; {exp.info.name}'s has none")
    for shots in sorted(set(block.episode_shots) | set(block.finetune_shots)):
        try:
            episodes.check_episode(labels, block.novel_classes, block.ways, shots, block.queries)
        except ValueError as e:
            raise ValueError(f"episodes of {exp.info.name}'s eval split (config.fewshot): {e}") from None


def probe_top1(block, eval_config, train, held_out, rows, num_classes: int) -> float:
    """The top-1 on the eval split of config.fewshot.probe fitted on the train features at `rows`, all
    features standardised by the mean and std of every labelled training example's (labels unused: a few
    rows give no per-dimension statistics)."""
    _, subset, test = linear.standardize(train["features"], train["features"][rows], held_out["features"])
    args = (subset, train["label"][rows], test, held_out["label"])
    if block.probe == "ridge":
        return kernels.ridge_top1(*args, num_classes=num_classes, l2_reg=block.l2_reg)
    params = linear.fit_logistic_regression(
        jnp.asarray(subset),
        jnp.asarray(train["label"][rows]),
        num_classes=num_classes,
        l2=eval_config.linear_l2,
        steps=eval_config.linear_steps,
    )
    predictions = np.argmax(np.asarray(test @ params["w"] + params["b"]), -1)
    return float(np.mean(predictions == held_out["label"]))


def fewshot_record(context, found: dict) -> list[dict]:
    """One result per shot count: the probe's top-1 mean and std (ddof 1) over the seeds, and each seed's."""
    block, eval_config = context.config.fewshot, context.config.eval
    num_classes = max(context.exp.info.num_classes, 1)
    results = []
    for shots in block.shots:
        top1s = [
            probe_top1(
                block,
                eval_config,
                found["train"],
                found["eval"],
                subsets.per_class_indices(found["train"]["label"], shots, seed),
                num_classes,
            )
            for seed in block.seeds
        ]
        results.append(
            {
                "shots": int(shots),
                "probe": block.probe,
                "top1": float(np.mean(top1s)),
                "top1_std": float(np.std(top1s, ddof=1)) if len(top1s) > 1 else 0.0,
                "seeds": [int(seed) for seed in block.seeds],
                "top1_per_seed": top1s,
                **({"l2_reg": block.l2_reg} if block.probe == "ridge" else {"l2": eval_config.linear_l2}),
            }
        )
    return results


def draw_episodes(labels, block, shots: int, seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(support (count, ways x shots), query (count, ways x queries)) rows of the eval split: episode e is
    sample_episode((seed, shots, e), ...) of the novel classes."""
    drawn = [
        sample_episode((seed, shots, e), labels, block.novel_classes, block.ways, shots, block.queries)
        for e in range(count)
    ]
    return np.stack([s for s, _ in drawn]), np.stack([q for _, q in drawn])


def episode_images(exp, support, query) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images (N, H, W, C) uint8 of every eval row the episodes use, once each; the support and query rows
    as indices into them, shaped as `support` and `query`)."""
    rows, inverse = np.unique(np.concatenate([support.ravel(), query.ravel()]), return_inverse=True)
    images = batch_streams.whole_batch(exp, subsets.take(exp.eval_source, rows))["image"][:, 0]
    return (
        images,
        inverse[: support.size].reshape(support.shape),
        inverse[support.size :].reshape(query.shape),
    )


def finetuned(context, block, support, query) -> dict:
    """The fine-tuned network's accuracy on the episodes (support, query), rows of the eval split."""
    exp = context.exp
    images, support_at, query_at = episode_images(exp, support, query)
    predictions = episode_finetune.finetune_predictions(
        exp.method.network,
        evaluated_weights(context.state, exp.method.eval_weights),
        images,
        support_at,
        query_at,
        image_size=exp.image_size,
        ways=block.ways,
        steps=block.finetune_steps,
        learning_rate=block.finetune_lr,
        parallel=block.finetune_parallel,
    )
    result = kernels.mean_ci95(predictions, episodes.episode_labels(block.ways, block.queries))
    return {**result, "steps": block.finetune_steps, "lr": block.finetune_lr}


def adapted(context, block, support, query) -> dict:
    """The accuracy of the method's own episode classifier (Method.adapt_episode: MAML's inner loop from its
    learnt initialisation) on the episodes (support, query), rows of the eval split, episode e keyed by
    fold_in(context.key, e), one episode per call."""
    exp = context.exp
    images, support_at, query_at = episode_images(exp, support, query)
    params, batch_stats = evaluated_weights(context.state, exp.method.eval_weights)
    variables = {"params": params, "batch_stats": batch_stats}

    @jax.jit
    def classify(variables, support_images, query_images, key):
        views = (augment.center_view(x, exp.image_size) for x in (support_images, query_images))
        return jnp.argmax(exp.method.adapt_episode(variables, *views, key), axis=-1)

    predictions = np.stack(
        [
            jax.device_get(classify(variables, images[s], images[q], jax.random.fold_in(context.key, e)))
            for e, (s, q) in enumerate(zip(support_at, query_at, strict=True))
        ]
    )
    return kernels.mean_ci95(predictions, episodes.episode_labels(block.ways, block.queries))


def adapts_to(method, ways: int) -> bool:
    """Whether the method has its own episode classifier for `ways`-way episodes; says in the log when its
    head has another number of ways, so that the record's missing "adapted" entry is explained."""
    if method.adapt_episode is None:
        return False
    if method.episodes.ways != ways:
        logging.warning(
            "episodes: %s adapts a %d-way head, the protocol draws %d-way episodes: no adapted classifier",
            method.name,
            method.episodes.ways,
            ways,
        )
        return False
    return True


def episodes_record(context, found: dict) -> list[dict]:
    """One result per shot count of config.fewshot.episode_shots: each classifier's mean top-1 and 95 % CI
    over the episodes; top1 is the Euclidean nearest prototype's."""
    block, eval_config = context.config.fewshot, context.config.eval
    held_out = found["eval"]
    query_labels = episodes.episode_labels(block.ways, block.queries)
    adapts = context.state is not None and adapts_to(context.exp.method, block.ways)
    results = []
    for shots in block.episode_shots:
        support, query = draw_episodes(
            held_out["label"], block, shots, eval_config.label_seed, block.episodes
        )
        support_x, query_x = held_out["features"][support], held_out["features"][query]
        classifiers = {
            f"prototype_{metric}": kernels.mean_ci95(
                kernels.prototype_episodes(support_x, query_x, ways=block.ways, metric=metric), query_labels
            )
            for metric in kernels.METRICS
        }
        classifiers["logistic"] = kernels.mean_ci95(
            kernels.logistic_episodes(
                support_x, query_x, ways=block.ways, l2=eval_config.linear_l2, steps=eval_config.linear_steps
            ),
            query_labels,
        )
        if context.state is not None and shots in block.finetune_shots:
            count = min(block.finetune_episodes, block.episodes)
            classifiers["finetune"] = finetuned(context, block, support[:count], query[:count])
        if adapts:
            classifiers["adapted"] = adapted(context, block, support, query)
        results.append(
            {
                "ways": int(block.ways),
                "shots": int(shots),
                "queries": int(block.queries),
                "novel_classes": [int(c) for c in block.novel_classes],
                "episodes": int(block.episodes),
                "top1": classifiers["prototype_euclidean"]["top1"],
                "classifiers": classifiers,
            }
        )
    return results


def online_fewshot(bank: dict, held_out: dict, block, num_classes: int) -> dict:
    """The ridge probe at evaluation steps: {"fewshot_<N>shot_top1"} for N in config.fewshot.online_shots, the
    first N of every class of the kNN bank (seed 0; features standardised by the bank's) against the eval
    split; a shot count some class of the bank cannot fill is left out."""
    counts = class_counts(bank["label"])
    metrics = {}
    for shots in block.online_shots:
        if not counts or shots > min(counts.values()):
            continue
        rows = subsets.per_class_indices(bank["label"], shots, 0)
        _, subset, test = linear.standardize(bank["features"], bank["features"][rows], held_out["features"])
        metrics[f"fewshot_{shots}shot_top1"] = kernels.ridge_top1(
            subset, bank["label"][rows], test, held_out["label"], num_classes=num_classes, l2_reg=block.l2_reg
        )
    return metrics
