"""Blocks shared by every config. Imports ml_collections and jaxssl.catalog (the datasets' and backbone
families' facts, plain Python) only: never jax or TensorFlow (a test checks it)."""

import ml_collections

from jaxssl import catalog

# The image side of the datasets whose images vary in size (ImageNet, image folders): the host crops each
# view to it.
IMAGE_FOLDER_SIDE = 224


def dataset_input(name: str) -> dict:
    """A dataset's input: the image side on device (its stored side, or IMAGE_FOLDER_SIDE where the host
    crops), the ResNet stem (ImageNet's on 224 px crops, CIFAR's on the small images) and whether the host
    crops each view."""
    host_crop = name in catalog.IMAGE_FOLDER_DATASETS
    side = IMAGE_FOLDER_SIDE if host_crop else catalog.PUBLISHED_DATASETS[name]["image_shape"][0]
    return dict(image_size=side, stem="imagenet" if host_crop else "cifar", host_crop=host_crop)


DATASETS = {name: dataset_input(name) for name in catalog.DATASET_NAMES}


def novel_classes(name: str) -> tuple:
    """The few-shot episodes' novel classes of a dataset (config.fewshot.novel_classes): the upper half of a
    named dataset's labels, Fashion-MNIST's 5-9 (sandal, shirt, sneaker, bag, ankle boot), CIFAR-10's 5-9
    (dog, frog, horse, ship, truck); the lower half are the base classes a run pretrains on with
    --config.data.classes="(0,1,2,3,4)". An image folder names its own."""
    if name not in catalog.PUBLISHED_DATASETS:
        return ()
    count = catalog.PUBLISHED_DATASETS[name]["num_classes"]
    return tuple(range(count // 2, count))


# Each backbone family's (jaxssl/catalog.py FAMILIES) micro backbone, for tiny configs.
MICRO_BACKBONES = {
    "alexnet": "alexnet_micro",
    "lenet": "lenet5",
    "mobilenet": "mobilenet_v2_micro",
    "resnet": "resnet_micro",
    "vgg": "vgg_micro",
    "vit": "vit_micro",
    "wide_resnet": "wide_resnet_micro",
}


def vit_patch_size(image_size: int) -> int:
    """16 px patches on ImageNet-size crops (14 x 14 tokens at 224, 12 x 12 at 192), 8 on STL-10's 96 px, 4 on
    16-32 px images."""
    return 16 if image_size >= 160 else 8 if image_size >= 96 else 4


def model_block(backbone: str, dataset: str, image_size: int) -> dict:
    """config.model for `backbone` (a registered name) on `dataset` at `image_size`: its name and its family's
    options."""
    if backbone not in catalog.BACKBONE_NAMES:
        raise ValueError(f"unknown backbone {backbone!r}; choose from {sorted(catalog.BACKBONE_NAMES)}")
    family = catalog.family_of(backbone)
    return dict(backbone=backbone, **FAMILY_OPTIONS[family](DATASETS[dataset], image_size))


# A backbone family's options and their defaults; each key is a keyword of the family's builders in
# jaxssl.models (a test checks it). The ResNet block is the one every earlier run has, so their identities are
# unchanged.
FAMILY_OPTIONS = {
    "alexnet": lambda dataset, size: dict(stem=dataset["stem"], dropout=0.5),
    "lenet": lambda dataset, size: dict(activation="tanh"),
    "mobilenet": lambda dataset, size: dict(width_multiplier=1.0, stem=dataset["stem"]),
    "resnet": lambda dataset, size: dict(width_multiplier=1.0, stem=dataset["stem"]),
    "vgg": lambda dataset, size: dict(batch_norm=False, stem=dataset["stem"], dropout=0.5),
    "wide_resnet": lambda dataset, size: dict(),
    "vit": lambda dataset, size: dict(
        patch_size=vit_patch_size(size), pool="cls", drop_path=0.0, pos_embed="learned"
    ),
}


# The options that set a run's batch and duration, which a tiny run sets itself (make_tiny,
# make_tiny_semisup), and the override that changes each after it.
TINY_OWN = {
    "batch": "train.batch_size",
    "epochs": "train.steps",
    "steps": "train.steps",
    "labelled_batch": "train.batch_size",
    "mu": "semisup.mu",
}


def parse_options(arg: str | None, defaults: dict) -> ml_collections.ConfigDict:
    """'a=1,b=x' -> options over `defaults`, each value converted to its default's type.

    Unknown names and values of the wrong type raise ValueError naming what is allowed, as do the given
    options that check_given refuses: `tiny` never drops one silently. Every config takes `crop` (`random`, or
    `contrastive`: ContrastiveCrop, see crop_block)."""
    defaults = {"crop": "random", **defaults}
    options = dict(defaults)
    given = {}
    for item in filter(None, (arg or "").split(",")):
        name, sep, value = item.partition("=")
        if not sep or name not in defaults:
            raise ValueError(f"config option {item!r} is not name=value with a name in {sorted(defaults)}")
        given[name] = value
        default = defaults[name]
        if isinstance(default, bool):
            if value.lower() not in ("1", "0", "true", "false"):
                raise ValueError(f"config option {name} takes true/false, got {value!r}")
            options[name] = value.lower() in ("1", "true")
        else:
            try:
                options[name] = type(default)(value)
            except ValueError:
                raise ValueError(
                    f"config option {name} takes a {type(default).__name__}, got {value!r}"
                ) from None
    check_given(options, given)
    return ml_collections.ConfigDict(options)


def check_given(options: dict, given: dict) -> None:
    """ValueError for given options that a run cannot honour: with `tiny`, those that set the batch or the
    duration (TINY_OWN; tiny's backbone= picks the family of the micro backbone it trains); the labelled subset
    of the semi-supervised configs chosen twice (labels= and label_fraction=) or out of range, a negative mu,
    no steps or no labelled rows."""
    overridden = [name for name in TINY_OWN if name in given]
    if options.get("tiny") and overridden:
        values = ", ".join(f"{name}={given[name]}" for name in overridden)
        overrides = ", ".join(dict.fromkeys(f"--config.{TINY_OWN[name]}=..." for name in overridden))
        raise ValueError(
            f"tiny=true sets its own batch and steps (configs/common.py make_tiny): drop {overridden} (given "
            f"{values}), or override the config after it ({overrides})"
        )
    if "labels" in given and "label_fraction" in given:
        raise ValueError(
            f"config options labels={given['labels']} and label_fraction={given['label_fraction']} both choose "
            "the labelled subset: give one of them"
        )
    minimum = {"labels": 1, "steps": 1, "labelled_batch": 1, "mu": 0}
    for name, least in minimum.items():
        if name in given and options[name] < least:
            raise ValueError(f"config option {name} takes an int >= {least}, got {given[name]!r}")
    if "label_fraction" in given and not 0.0 < options["label_fraction"] <= 1.0:
        raise ValueError(
            f"config option label_fraction takes a fraction in (0, 1], got {given['label_fraction']!r}"
        )


def base_config(options: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Every field a run reads, with dataset-dependent defaults; methods fill `method`, `augment`, `optim`."""
    if options.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {options.dataset!r}; choose from {sorted(DATASETS)}")
    dataset = DATASETS[options.dataset]
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.name = ""
    config.model = model_block(options.backbone, options.dataset, dataset["image_size"])
    config.data = dict(
        dataset=options.dataset,
        data_dir="",
        manual_dir="",
        download=False,
        skip_bad_files=False,
        image_size=dataset["image_size"],
        host_crop=dataset["host_crop"],
        prefetch=2,
        # The classes a method trains on (empty: all): "(0,2,4,6,8)" keeps only their examples of the training
        # split, labels unchanged; the evaluation protocols still see every class.
        classes=(),
    )
    config.train = dict(
        batch_size=options.batch, epochs=float(options.epochs), steps=-1, warmup_epochs=10.0, dtype="float32"
    )
    config.eval = dict(
        every_steps=1000,
        batch_size=512,
        knn_k=200,
        knn_temperature=0.07,
        bank_examples=10000,
        linear_l2=1e-4,
        linear_steps=500,
        knn_ks=(1, 5, 20, 50, 200),
        knn_temperatures=(0.02, 0.07, 0.1, 0.5),
        knn_spaces=("backbone", "projector"),
        label_seed=0,
        health_examples=2048,
        tsne_examples=2000,
        layer_features=9216,
        # finetune also keeps its classifier's predictions on the training split, a distillation's teacher
        finetune_predictions=False,
    )
    # The supervised protocols (SimCLR, Chen et al. 2020, appendix B.5 and B.6): SGD with Nesterov
    # momentum, lr = base_lr x batch / 256, cosine decay, no weight decay, random crop + flip. The linear
    # probe trains 90 epochs; fine-tuning 30 (the paper's 10 % setting; 60 at 1 %: --config.finetune.epochs=60).
    config.linear_sgd = dict(
        epochs=90.0,
        batch_size=256,
        base_lr=0.1,
        momentum=0.9,
        nesterov=True,
        weight_decay=0.0,
        warmup_epochs=0.0,
        min_crop_scale=0.08,
        optimizer="sgd",
        trust_coefficient=0.001,
        b1=0.9,
        b2=0.999,
        layer_decay=1.0,
        drop_path=-1.0,
        head_layers=0,  # the projection head's first layers kept before the classifier (SimCLR v2: 1)
    )
    config.finetune = dict(config.linear_sgd, epochs=30.0, base_lr=0.05)
    config.anchor = dict(top1=-1.0, protocol="", source="")
    # The few-shot protocols (jaxssl/evaluation/fewshot.py). N-shot probes: `shots` labelled examples per class
    # drawn by each of `seeds`, probe "logistic" (L-BFGS, eval.linear_l2 and linear_steps) or "ridge" (closed
    # form, l2_reg; at every evaluation step for online_shots). Episodes: `ways`-way K-shot (episode_shots)
    # with `queries` queries per class from the eval split's novel classes, `episodes` of them for the frozen
    # classifiers and finetune_episodes for fine-tuning (finetune_steps of SGD at finetune_lr,
    # finetune_parallel episodes at once under vmap: 1 on a CPU, more on an accelerator) at finetune_shots.
    # finetune_lr 0.001: at 0.01 the supervised ResNet-10 x0.25 of the few-shot table diverged (5-way 5-shot,
    # 10 episodes: 71.6 % at step 0, 20.9 % after 20 steps at 0.01, 75.3 % at 0.001, 72.5 % at 1e-4).
    config.fewshot = dict(
        shots=(1, 2, 5, 10),
        seeds=(0, 1, 2),
        probe="logistic",
        l2_reg=100.0,
        online_shots=(10,),
        novel_classes=novel_classes(options.dataset),
        ways=5,
        episode_shots=(1, 5),
        queries=15,
        episodes=1000,
        finetune_shots=(5,),
        finetune_episodes=100,
        finetune_steps=20,
        finetune_lr=0.001,
        finetune_parallel=1,
    )
    if options.crop == "contrastive":
        config.crop = crop_block(options.dataset, options.epochs)
    elif options.crop != "random":
        raise ValueError(f"unknown crop {options.crop!r}; choose from ['contrastive', 'random']")
    config.checkpoint = dict(every_steps=1000, keep=3)
    # How the state is laid out on the devices (not part of a run's identity): a weight of at least this many
    # bytes is split over them (jaxssl/sharding.py DEFAULT_MIN_SPLIT_WEIGHT_BYTES, 1 MiB).
    config.mesh = dict(min_split_weight_bytes=1 << 20)
    # The backbone's starting weights: a file of --mode=export, or torchvision's / timm's weights saved as
    # safetensors (weights), or another run directory's newest checkpoint (workdir; jaxssl/weights/load.py); both
    # empty for the run's random initialisation.
    config.init = dict(weights="", workdir="")
    config.log_every_steps = 50
    return config


def crop_block(dataset: str, epochs: float) -> dict:
    """config.crop for ContrastiveCrop (Peng et al. 2022; jaxssl/augment/crops.py), as their released configs:
    heat-map threshold 0.1, centre parameter alpha 0.6 on ImageNet and 0.1 on the small datasets, the first
    boxes after a fifth of the epochs and a refresh every fifth (CIFAR's 500 epochs: 100 and 100; ImageNet's
    100: 20 and 20), at least one epoch each. Without this block (crop=random) the crops are RandomResizedCrop's
    and the config is that of every earlier run."""
    fifth = max(1, round(epochs / 5))
    alpha = 0.6 if dataset == "imagenet2012" else 0.1
    return dict(policy="contrastive", warmup_epochs=fifth, every_epochs=fifth, threshold=0.1, alpha=alpha)


def make_tiny(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A few seconds per run: the micro backbone of the config's family, small images and heads, a handful of
    steps (for tests)."""
    family = catalog.family_of(config.model.backbone)
    if family not in MICRO_BACKBONES:
        raise ValueError(f"the {family} family has no micro backbone for tiny configs")
    config.data.image_size = 16
    config.model = model_block(MICRO_BACKBONES[family], config.data.dataset, config.data.image_size)
    config.train.update(batch_size=16, epochs=-1.0, steps=4, warmup_epochs=0.0)
    config.eval.update(
        every_steps=2,
        batch_size=16,
        knn_k=5,
        bank_examples=32,
        linear_steps=20,
        knn_ks=(1, 5),
        knn_temperatures=(0.07, 0.5),
        health_examples=32,
        tsne_examples=32,
        layer_features=64,
    )
    config.linear_sgd.update(epochs=1.0, batch_size=16)
    config.finetune.update(epochs=1.0, batch_size=16)
    config.checkpoint.update(every_steps=2, keep=3)
    config.log_every_steps = 1
    if "crop" in config:
        config.crop.update(warmup_epochs=1, every_epochs=1)
    return config


def tile_layout(image_size: int, grid: int, fill: float, max_jitter: int | None = None) -> dict:
    """Tile size and jitter of a pretext task's grid on `image_size` px views: tiles fill the fraction `fill`
    of their cell's side (the rest is the gap between tiles), and move as far as the cell allows, at most
    `max_jitter` px when given."""
    cell = image_size // grid
    tile = max(1, int(cell * fill))
    slack = (cell - tile) // 2
    return dict(tile_size=tile, jitter=slack if max_jitter is None else min(max_jitter, slack))


def cpu_vit_recipe(config: ml_collections.ConfigDict) -> None:
    """The ViT table's settings for a 20-minute Fashion-MNIST run on a 2-core CPU (configs/quickstart.py's
    for a ViT): half an epoch of warm-up, an evaluation and a checkpoint every 500 steps, the SGD linear probe
    10 epochs, and fine-tuning 3 epochs with AdamW (lr 1e-3 x batch / 256, weight decay 0.05, drop path 0.1,
    half an epoch of warm-up, no layer-wise decay), crops of at least 20 % of the image."""
    config.train.warmup_epochs = 0.5
    config.eval.update(every_steps=500, bank_examples=10000, layer_features=2048)
    config.checkpoint.every_steps = 500
    config.linear_sgd.update(epochs=10.0, min_crop_scale=0.2)
    config.finetune.update(
        optimizer="adamw",
        epochs=3.0,
        base_lr=1e-3,
        weight_decay=0.05,
        b2=0.999,
        warmup_epochs=0.5,
        layer_decay=1.0,
        drop_path=0.1,
        min_crop_scale=0.2,
    )


def pretext_eval(config: ml_collections.ConfigDict) -> None:
    """A pretext network has no projector: kNN reads the backbone only."""
    config.eval.knn_spaces = ("backbone",)


def anchor(dataset: str, anchors: dict) -> dict:
    """The published number a run on `dataset` reproduces against: anchors maps a dataset name to (top-1 %,
    protocol, source); top1 -1 when there is none. The report prints it beside our mean."""
    top1, protocol, source = anchors.get(dataset, (-1.0, "", ""))
    return dict(top1=float(top1), protocol=protocol, source=source)


def lock(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """No new keys after this: a misspelled override fails instead of being ignored."""
    config.lock()
    return config
