"""Every check of a config that can be made before anything is loaded, compiled or written.

The keys of each config block are checked against the signature they feed, so a misspelled key fails with
one clear message; the numbers are checked first (config_numbers.py).
"""

import inspect
import math

import jax.numpy as jnp

from jaxssl import augment, catalog, config_args, models, optim, schedules
from jaxssl.augment import crops
from jaxssl.config_numbers import check_numbers
from jaxssl.data import sources, subsets
from jaxssl.methods import METHODS
from jaxssl.probes import fewshot, finetune


def check_kwargs(fn, kwargs: dict, where: str, provided=()) -> None:
    """ValueError when `kwargs` holds a key that `fn` does not take (or one the run provides itself)."""
    accepted = set(inspect.signature(fn).parameters) - set(provided)
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in config.{where}; allowed: {sorted(accepted)}")


def check_name(name: str, allowed, what: str) -> None:
    if name not in allowed:
        raise ValueError(f"unknown {what} {name!r}; choose from {sorted(allowed)}")


def check_model(config) -> None:
    """The backbone exists, config.model holds only options of its family, and they build a valid network
    (constructing a module computes nothing)."""
    check_name(config.model.backbone, models.BACKBONES, "backbone")
    builder = models.BACKBONES[config.model.backbone]
    accepted = set(inspect.signature(builder).parameters) - {"dtype", "image_size"}
    foreign = sorted(set(config_args.without(config.model, "backbone")) - accepted)
    if foreign:
        raise ValueError(
            f"config.model.{foreign[0]} is not an option of backbone {config.model.backbone!r} (family "
            f"{catalog.family_of(config.model.backbone)}); its options: {sorted(accepted)}. Other families' "
            "options come with their own model block (configs/common.py model_block)"
        )
    builder(**config_args.backbone_kwargs(config, jnp.float32))


def check_config(config) -> None:
    """Every name resolves, every block's keys are ones its function takes, every count is positive."""
    check_numbers(config, step_dtypes(config))
    check_name(config.method.name, METHODS, "method")
    method = config_args.without(config.method, "name")
    check_kwargs(METHODS[config.method.name], method, "method", provided=("context",))
    check_model(config)
    check_name(config.train.dtype, config_args.DTYPES, "dtype")
    check_name(config.augment.preset, augment.VIEW_PRESETS, "view preset")
    preset = augment.VIEW_PRESETS[config.augment.preset]
    check_kwargs(preset, config_args.without(config.augment, "preset"), "augment", provided=("size",))
    check_name(config.optim.name, optim.OPTIMIZERS, "optimizer")
    check_name(config.optim.get("schedule", "warmup_cosine"), schedules.SCHEDULES, "lr schedule")
    optimizer = config_args.optimizer_kwargs(config)
    check_kwargs(optim.make_optimizer, optimizer, "optim", provided=("name", "learning_rate"))
    check_peak_learning_rate(config)
    check_name(config.data.dataset, sources.DATASETS, "dataset")
    check_crop(config)
    check_data_classes(config)
    check_mesh(config)
    check_semisup(config)
    check_teacher_block(config)
    check_init(config)
    check_eval_config(config)
    check_fewshot_block(config)
    for block, name in (
        ("eval", "every_steps"),
        ("checkpoint", "every_steps"),
        ("checkpoint", "keep"),
        ("train", "batch_size"),
        ("eval", "batch_size"),
        ("data", "image_size"),
    ):
        if config[block][name] <= 0:
            raise ValueError(f"config.{block}.{name} must be positive, got {config[block][name]}")
    if config.log_every_steps <= 0:
        raise ValueError(f"config.log_every_steps must be positive, got {config.log_every_steps}")


def check_peak_learning_rate(config) -> None:
    """The peak learning rate, config.optim.base_lr scaled to the batch, is finite in float32, the dtype of
    the step's learning rate."""
    peak = schedules.scaled_learning_rate(
        config.optim.base_lr, config.train.batch_size, config.optim.lr_scaling
    )
    largest = float(jnp.finfo(jnp.float32).max)
    if not abs(peak) <= largest:
        raise ValueError(
            f"config.optim.base_lr={config.optim.base_lr} scaled to batch {config.train.batch_size} "
            f"(lr_scaling={config.optim.lr_scaling!r}) is a peak learning rate of {peak:g}, beyond float32's "
            f"largest number {largest:.4g}: the step's learning rate would be infinite"
        )


def check_crop(config) -> None:
    """config.crop, where present: a known policy with only the keys it takes, on a dataset cropped on device
    (the host pipeline crops ImageNet and image folders before the step could use a box)."""
    if "crop" not in config:
        return
    check_name(config.crop.get("policy", ""), crops.CROP_POLICIES, "crop policy")
    policy = crops.CROP_POLICIES[config.crop.policy]
    options = config_args.without(config.crop, "policy")
    check_kwargs(policy, options, "crop", provided=("num_examples", "global_batch"))
    if config.data.host_crop:
        raise ValueError(
            f"ContrastiveCrop needs a dataset cropped on device; {config.data.dataset} is cropped on the host "
            "(config.data.host_crop), which cannot see the boxes yet. Use crop=random there"
        )


def check_data_classes(config) -> None:
    """config.data.classes, where set: distinct ints, each a class of the dataset (the named datasets' class
    counts; an image folder's classes are checked when it is loaded, jaxssl/data/subsets.py class_indices)."""
    classes = tuple(config.data.get("classes", ()))
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        raise ValueError(f"config.data.classes must be class numbers (ints), got {classes}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"config.data.classes repeats a class: {classes}")
    num_classes = catalog.PUBLISHED_DATASETS.get(config.data.dataset, {}).get("num_classes", math.inf)
    outside = [c for c in classes if not 0 <= c < num_classes]
    if outside:
        raise ValueError(
            f"config.data.classes lists class {outside[0]}, not a class of {config.data.dataset} "
            f"(0 .. {num_classes - 1})"
        )


def check_mesh(config) -> None:
    """config.mesh, where present, holds only min_split_weight_bytes, an int >= 0 (0: every weight the devices
    divide is split)."""
    unknown = sorted(set(config.get("mesh", {})) - {"min_split_weight_bytes"})
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in config.mesh; allowed: ['min_split_weight_bytes']")
    value = config_args.min_split_weight_bytes(config)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"config.mesh.min_split_weight_bytes must be an int >= 0, got {value!r}")


def check_semisup(config) -> None:
    """config.semisup, where present: only the keys subsets.semisupervised_parts takes, one way to choose the
    labelled subset (an int labels_per_class > 0, a label_fraction in (0, 1], or a file of row indices
    labelled_indices, the other two 0 or empty), an int mu >= 0 that splits the batch (0: labelled rows only).
    The file itself is read when the data is (subsets.indices_file)."""
    if "semisup" not in config:
        return
    block = dict(config.semisup)
    check_kwargs(subsets.semisupervised_parts, block, "semisup", provided=("labels", "global_batch"))
    per_class, fraction = block.get("labels_per_class", 0), block.get("label_fraction", 0.0)
    listed = block.get("labelled_indices", "")
    if not isinstance(listed, str):
        raise ValueError(
            f"config.semisup.labelled_indices is the path of a file of row indices, got {listed!r}"
        )
    if listed and (per_class != 0 or fraction != 0.0):
        raise ValueError(
            f"config.semisup.labelled_indices={listed!r} chooses the labelled subset, so labels_per_class and "
            "label_fraction must be 0 (--config.semisup.labels_per_class=0 --config.semisup.label_fraction=0); "
            f"got labels_per_class={per_class}, label_fraction={fraction}"
        )
    by_count = isinstance(per_class, int) and per_class > 0 and fraction == 0.0
    by_fraction = per_class == 0 and 0.0 < fraction <= 1.0
    if not (listed or by_count or by_fraction):
        raise ValueError(
            "config.semisup chooses the labelled subset by an int labels_per_class > 0 or by a label_fraction "
            "in (0, 1], exactly one of them (the other 0: --config.semisup.labels_per_class=0 or "
            f"--config.semisup.label_fraction=0); got labels_per_class={per_class}, label_fraction={fraction}"
        )
    mu = block.get("mu")
    if not isinstance(mu, int) or mu < 0 or config.train.batch_size % (1 + mu):
        raise ValueError(
            f"config.semisup.mu must be an int >= 0 with 1 + mu dividing config.train.batch_size "
            f"({config.train.batch_size}); got {mu!r}"
        )


def check_init(config) -> None:
    """config.init names at most one starting point: an exported weight file or another run directory."""
    block = dict(config.get("init", {}))
    if block.get("weights") and block.get("workdir"):
        raise ValueError(
            f"config.init.weights={block['weights']!r} and config.init.workdir={block['workdir']!r}: a run "
            "starts from one of them"
        )


TEACHER_KEYS = ("workdir", "threshold", "per_class", "soft")
# Absent: True. False (a distilled student): every row at the threshold once, no per-class balancing.
OPTIONAL_TEACHER_KEYS = ("balance",)


def check_teacher_block(config) -> None:
    """config.teacher, where present (Noisy Student's rounds, a distilled student): its keys, a confidence
    threshold in [0, 1), per_class >= 0, a bool balance, and a teacher exactly when the batch has unlabelled
    rows for its pseudo-labels (mu >= 1).
    Whether the teacher's directory holds a run of this dataset is checked when training starts
    (jaxssl/teacher.py check_teacher)."""
    if "teacher" not in config:
        return
    block = dict(config.teacher)
    unknown = sorted(set(block) - set(TEACHER_KEYS) - set(OPTIONAL_TEACHER_KEYS))
    missing = sorted(set(TEACHER_KEYS) - set(block))
    if unknown or missing:
        raise ValueError(
            f"config.teacher takes {list(TEACHER_KEYS)} and optionally {list(OPTIONAL_TEACHER_KEYS)}; unknown "
            f"{unknown}, missing {missing}"
        )
    if (
        not 0.0 <= block["threshold"] < 1.0
        or not isinstance(block["per_class"], int)
        or block["per_class"] < 0
        or not isinstance(block.get("balance", True), bool)
    ):
        raise ValueError(
            "config.teacher needs a threshold in [0, 1), an int per_class >= 0 (0: the training split's "
            f"size / classes) and a bool balance; got threshold={block['threshold']!r}, per_class="
            f"{block['per_class']!r}, balance={block.get('balance', True)!r}"
        )
    mu = config.get("semisup", {}).get("mu", 0)
    if bool(block["workdir"]) != (mu >= 1):
        raise ValueError(
            "a teacher's pseudo-labels fill the batch's unlabelled rows: set config.teacher.workdir with "
            f"config.semisup.mu >= 1, or neither (the first teacher, labelled rows only); got workdir="
            f"{block['workdir']!r}, mu={mu}"
        )


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


def step_dtypes(config) -> tuple:
    """The dtypes the step computes a config's numbers in: float32 (weights, learning rates, optimiser state)
    and the compute dtype config.train.dtype, where it names one."""
    compute = config_args.DTYPES.get(config.get("train", {}).get("dtype", "float32"), jnp.float32)
    return tuple(dict.fromkeys((jnp.dtype(jnp.float32), jnp.dtype(compute))))
