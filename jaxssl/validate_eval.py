"""The checks of a config's evaluation blocks, made with the rest of jaxssl/validate.py before anything is
loaded, compiled or written: the offline protocols' recipes and kNN grid, and the few-shot block."""

import math

from jaxssl import catalog
from jaxssl.config_args import check_kwargs, check_name
from jaxssl.probes import fewshot, finetune

KNN_SPACES = ("backbone", "projector")
EVAL_PROTOCOL_KEYS = (
    "knn_ks",
    "knn_temperatures",
    "knn_spaces",
    "label_seed",
    "health_examples",
    "tsne_examples",
)


def check_eval_config(config) -> None:
    """The offline protocols' blocks: recipes whose keys Recipe takes, a kNN grid of positive k and T over
    known feature spaces, positive example counts."""
    missing = [block for block in ("linear_sgd", "finetune", "anchor") if block not in config]
    missing += [f"eval.{name}" for name in EVAL_PROTOCOL_KEYS if name not in config.eval]
    if missing:
        raise ValueError(
            f"the config has no {missing}: it was written before the evaluation protocols existed (an old "
            "config.json?); pass --config=configs/<the run's config>.py:<its options> instead"
        )
    for block in ("linear_sgd", "finetune"):
        check_kwargs(finetune.Recipe, dict(config[block]), block)
        for name in ("epochs", "batch_size"):  # base_lr: check_numbers
            if config[block][name] <= 0:
                raise ValueError(f"config.{block}.{name} must be positive, got {config[block][name]}")
        if not 0.0 < config[block].get("layer_decay", 1.0) <= 1.0:
            raise ValueError(
                f"config.{block}.layer_decay must lie in (0, 1], got {config[block].layer_decay}"
            )
        drop_path = config[block].get("drop_path", -1.0)
        if drop_path != -1.0 and not 0.0 <= drop_path < 1.0:
            raise ValueError(
                f"config.{block}.drop_path must be -1 (the network's own) or in [0, 1), got {drop_path}"
            )
        if config[block].get("optimizer", "sgd") not in finetune.RECIPE_OPTIMIZERS:
            raise ValueError(
                f"config.{block}.optimizer must be one of {list(finetune.RECIPE_OPTIMIZERS)}, "
                f"got {config[block].optimizer!r}"
            )
    if not config.eval.knn_ks or min(config.eval.knn_ks) < 1:
        raise ValueError(f"config.eval.knn_ks must be positive ints, got {config.eval.knn_ks}")
    if not config.eval.knn_temperatures:  # each positive: check_numbers
        raise ValueError(f"config.eval.knn_temperatures must be positive, got {config.eval.knn_temperatures}")
    spaces = tuple(config.eval.knn_spaces)
    if "backbone" not in spaces or set(spaces) - set(KNN_SPACES):
        raise ValueError(
            f"config.eval.knn_spaces must hold 'backbone' and may hold 'projector', got {spaces}"
        )
    if config.eval.get("layer_features", 1) < 1:
        raise ValueError(f"config.eval.layer_features must be positive, got {config.eval.layer_features}")
    for name in ("health_examples", "tsne_examples"):
        if config.eval[name] < 2:
            raise ValueError(f"config.eval.{name} must be at least 2, got {config.eval[name]}")


FEWSHOT_COUNTS = ("ways", "queries", "episodes", "finetune_episodes", "finetune_steps", "finetune_parallel")
FEWSHOT_SHOTS = ("shots", "episode_shots", "online_shots", "finetune_shots")
FEWSHOT_KEYS = (*FEWSHOT_COUNTS, *FEWSHOT_SHOTS, "seeds", "probe", "l2_reg", "novel_classes", "finetune_lr")


def check_fewshot_block(config) -> None:
    """config.fewshot, where present (a config from before the few-shot protocols has none): its keys, positive
    counts, a known probe, novel classes that are distinct classes of the dataset and none of the classes the
    run trains on (config.data.classes), no more ways than novel classes. An empty novel list, and counts the
    splits cannot give, are refused when the episodes are asked (jaxssl/evaluation/fewshot.py)."""
    if "fewshot" not in config:
        return
    block = config.fewshot
    unknown = sorted(set(block) - set(FEWSHOT_KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in config.fewshot; allowed: {sorted(FEWSHOT_KEYS)}")
    check_name(block.probe, fewshot.PROBES, "few-shot probe")
    for name in (*FEWSHOT_SHOTS, *FEWSHOT_COUNTS):
        values = block[name] if isinstance(block[name], tuple | list) else (block[name],)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
            raise ValueError(f"config.fewshot.{name} must be positive ints, got {block[name]}")
    if not block.shots or not block.seeds or not block.l2_reg > 0:
        raise ValueError(
            f"config.fewshot needs shot counts, seeds and l2_reg > 0; got shots={block.shots}, "
            f"seeds={block.seeds}, l2_reg={block.l2_reg}"
        )
    novel = tuple(block.novel_classes)
    num_classes = catalog.PUBLISHED_DATASETS.get(config.data.dataset, {}).get("num_classes", math.inf)
    if len(set(novel)) != len(novel) or not all(isinstance(c, int) and 0 <= c < num_classes for c in novel):
        raise ValueError(
            f"config.fewshot.novel_classes must be distinct classes of {config.data.dataset}, got {novel}"
        )
    base = sorted(set(novel) & set(config.data.get("classes", ())))
    if base:
        raise ValueError(
            f"config.fewshot.novel_classes lists class {base[0]}, which the run trains on (config.data.classes="
            f"{tuple(config.data.classes)}): a novel class must be one pretraining never saw"
        )
    if novel and block.ways > len(novel):
        raise ValueError(
            f"{block.ways}-way episodes need {block.ways} novel classes; config.fewshot.novel_classes has "
            f"{len(novel)}: {novel}"
        )
