"""Every check of a config that can be made before anything is loaded, compiled or written.

The keys of each config block are checked against the signature they feed, so a misspelled key fails with
one clear message; the numbers are checked first (config_numbers.py), the evaluation blocks last
(validate_eval.py).
"""

import inspect
import math

import jax.numpy as jnp

from jaxssl import augment, catalog, config_args, models, optim, schedules, validate_eval
from jaxssl.augment import crops
from jaxssl.config_args import check_kwargs, check_name
from jaxssl.config_numbers import check_numbers
from jaxssl.data import sources, subsets
from jaxssl.methods import METHODS


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
    validate_eval.check_eval_config(config)
    validate_eval.check_fewshot_block(config)
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


def step_dtypes(config) -> tuple:
    """The dtypes the step computes a config's numbers in: float32 (weights, learning rates, optimiser state)
    and the compute dtype config.train.dtype, where it names one."""
    compute = config_args.DTYPES.get(config.get("train", {}).get("dtype", "float32"), jnp.float32)
    return tuple(dict.fromkeys((jnp.dtype(jnp.float32), jnp.dtype(compute))))
