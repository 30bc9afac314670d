"""From a config to the objects a run needs, with every check done before anything is compiled or written.

The ConfigDict stops here: everything below gets explicit keyword arguments (the checks: jaxssl/validate.py;
each block's arguments: jaxssl/config_args.py).
"""

import dataclasses
import math

import flax.linen as nn
import jax
import optax

from jaxssl import augment, config_args, models, optim, schedules, sharding, validate
from jaxssl.augment import crops
from jaxssl.data import parts as batch_parts
from jaxssl.data import sources, subsets
from jaxssl.methods import METHODS, Method, MethodContext


def resolve_duration(epochs: float, steps: int, examples: int, batch: int, what: str) -> int:
    """Steps from a duration given either in steps (>= 0) or in epochs (steps = -1)."""
    if steps >= 0:
        return int(steps)
    if epochs < 0:
        raise ValueError(f"set either config.train.{what}steps or config.train.{what}epochs (>= 0)")
    return int(math.ceil(epochs * examples / batch))


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Everything a run is made of, built and checked from a config. No device work has happened yet.

    train_source is what the method trains on: the training split, or its examples of config.data.classes;
    whole_train_source is the whole training split, the evaluation protocols' labelled examples."""

    seed: int
    mesh: jax.sharding.Mesh
    info: sources.DatasetInfo
    train_source: object
    whole_train_source: object
    eval_source: object
    method: Method
    probe: nn.Module
    optimizer: optax.GradientTransformation
    learning_rate: optax.Schedule
    view_specs: tuple
    crop_policy: crops.ContrastiveCrop | None
    image_size: int
    host_crop: bool
    global_batch: int
    total_steps: int
    min_split_weight_bytes: int
    identity: dict
    parts: tuple | None = None
    episodes: batch_parts.Episodes | None = None


def identity_of(config) -> dict:
    """What makes two runs the same run: a workdir holding another identity is refused. The backbone's name
    and its family's options (a ResNet's width_multiplier and stem: the keys every earlier run has), and the
    crop policy where there is one. Not config.mesh: where the weights are placed is not what the run learns,
    and a checkpoint restores under any placement."""
    options = config_args.without(config.model, "backbone")
    if "width_multiplier" in options:
        options["width_multiplier"] = float(options["width_multiplier"])
    identity = {
        "method": config.method.name,
        "backbone": config.model.backbone,
        **options,
        "dataset": config.data.dataset,
        "image_size": int(config.data.image_size),
    }
    if "crop" in config:  # a crop policy keeps state of its own: a run without it is another run
        identity["crop"] = config.crop.policy
    if "semisup" in config:  # another labelled subset or mu is another run
        # an empty labelled_indices (no file of rows) is left out: the identity every earlier run has
        identity["semisup"] = {k: v for k, v in config.semisup.items() if k != "labelled_indices" or v}
    if "teacher" in config:  # another teacher or other pseudo-labels: another run
        identity["teacher"] = dict(config.teacher)
    if config.data.get("classes"):  # trained on some classes only: another run
        identity["classes"] = [int(c) for c in config.data.classes]
    return identity


def prepare(config, data: tuple | None = None) -> Experiment:
    """Checks the whole config and loads the datasets (failing fast when one is missing); data=(train source,
    eval source, DatasetInfo) stands in for config.data's dataset (the benchmarks' synthetic data)."""
    validate.check_config(config)
    mesh = sharding.make_mesh()
    global_batch = config.train.batch_size
    sharding.check_batch_divides(global_batch, mesh)
    for batch in (config.eval.batch_size, config.linear_sgd.batch_size, config.finetune.batch_size):
        sharding.check_batch_divides(batch, mesh)

    data_args = dict(
        data_dir=config.data.data_dir or None,
        manual_dir=config.data.manual_dir or None,
        download=config.data.download,
        skip_bad_files=config.data.get("skip_bad_files", False),
    )
    if data is None:
        train_source, info = sources.load(config.data.dataset, "train", **data_args)
        eval_source, _ = sources.load(config.data.dataset, "eval", **data_args)
    else:
        train_source, eval_source, info = data
    whole_train_source = train_source
    if config.data.get("classes"):
        kept = subsets.class_indices(train_source.labels, config.data.classes)
        train_source = subsets.take(train_source, kept)
    train_examples = len(train_source.labels)
    total_steps = resolve_duration(config.train.epochs, config.train.steps, train_examples, global_batch, "")
    if total_steps <= 0:
        raise ValueError(
            f"the run has {total_steps} steps; set config.train.steps or config.train.epochs > 0"
        )
    warmup_steps = resolve_duration(config.train.warmup_epochs, -1, train_examples, global_batch, "warmup_")

    size = config.data.image_size
    specs = tuple(
        augment.VIEW_PRESETS[config.augment.preset](size, **config_args.without(config.augment, "preset"))
    )
    if config.data.host_crop:
        specs = tuple(dataclasses.replace(spec, random_crop=False) for spec in specs)
    crop_policy = crop_policy_of(config, specs, train_examples, global_batch)
    parts = None
    if "semisup" in config:
        parts = subsets.semisupervised_parts(train_source.labels, global_batch, **config.semisup)
    dtype = config_args.DTYPES[config.train.dtype]
    backbone = models.BACKBONES[config.model.backbone](**config_args.backbone_kwargs(config, dtype))
    context = MethodContext(
        backbone=backbone,
        image_mean=info.mean,
        image_std=info.std,
        dtype=dtype,
        num_examples=train_examples,
        global_batch=global_batch,
        image_size=size,
        num_classes=info.num_classes,
        labelled_batch=0 if parts is None else parts[0].batch,
    )
    method = METHODS[config.method.name](context, **config_args.without(config.method, "name"))
    episodes = episodes_of(method, train_source.labels, parts)
    peak_lr = schedules.scaled_learning_rate(config.optim.base_lr, global_batch, config.optim.lr_scaling)
    learning_rate = schedules.make_schedule(
        config.optim.get("schedule", "warmup_cosine"), peak_lr, total_steps, warmup_steps
    )
    model_optimizer = optim.make_optimizer(
        config.optim.name, learning_rate, **config_args.optimizer_kwargs(config)
    )
    if method.frozen:
        model_optimizer = optim.hold(model_optimizer, method.frozen, root="model")
    optimizer = optim.with_probe(model_optimizer, config.optim.probe_lr)
    return Experiment(
        seed=config.seed,
        mesh=mesh,
        info=info,
        train_source=train_source,
        whole_train_source=whole_train_source,
        eval_source=eval_source,
        method=method,
        probe=nn.Dense(max(info.num_classes, 1)),
        optimizer=optimizer,
        learning_rate=learning_rate,
        view_specs=specs,
        crop_policy=crop_policy,
        image_size=size,
        host_crop=config.data.host_crop,
        global_batch=global_batch,
        total_steps=total_steps,
        min_split_weight_bytes=config_args.min_split_weight_bytes(config),
        identity=identity_of(config),
        parts=parts,
        episodes=episodes,
    )


def episodes_of(method: Method, labels, parts: tuple | None) -> batch_parts.Episodes | None:
    """The episodes every batch holds for a method trained on them (Method.episodes), drawn from the classes
    of the training split it trains on (config.data.classes where set), or None for other methods. Refused,
    in one line, with a batch of parts (config.semisup) and where the split cannot fill them
    (batch_parts.episodes_of_split)."""
    layout = method.episodes
    if layout is None:
        return None
    if parts is not None:
        raise ValueError(
            f"{method.name} trains on batches of episodes, which hold no parts: drop config.semisup"
        )
    return batch_parts.episodes_of_split(
        labels, count=layout.episodes, ways=layout.ways, shots=layout.shots, queries=layout.queries
    )


def crop_policy_of(config, specs, num_examples: int, global_batch: int) -> crops.ContrastiveCrop | None:
    """The run's crop policy (config.crop), or None for RandomResizedCrop; a method whose views have no random
    crop to bound is refused."""
    if "crop" not in config:
        return None
    uncropped = [index for index, spec in enumerate(specs) if not spec.random_crop]
    if uncropped:
        raise ValueError(
            f"ContrastiveCrop bounds each view's random crop, but view(s) {uncropped} of {config.method.name}'s "
            f"'{config.augment.preset}' views have none. Use crop=random"
        )
    policy = crops.CROP_POLICIES[config.crop.policy]
    return policy(num_examples, global_batch, **config_args.without(config.crop, "policy"))
