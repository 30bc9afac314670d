"""The semi-supervised configs' shared part (fixmatch, pseudo_label, mean_teacher, mixmatch, co-training,
Noisy Student, the supervised baseline): options, networks, labelled subsets, the benchmark's optimiser."""

import ml_collections

from configs import common
from jaxssl import catalog

# The semi-supervised configs (fixmatch, pseudo_label, mean_teacher): their shared options, networks and
# labelled subsets. Without labels= or label_fraction=, the papers' label counts (CIFAR-10 250, CIFAR-100
# 2500, STL-10 1000), 10 % of ImageNet (FixMatch, section 5.1) and 1 % of Fashion-MNIST (the README's table);
# labels -1 and label_fraction 0 stand for neither given.
SEMISUP_DEFAULTS = dict(
    dataset="cifar10",
    backbone="",
    labels=-1,
    label_fraction=0.0,
    steps=-1,
    labelled_batch=64,
    mu=7,
    tiny=False,
)
SEMISUP_BACKBONES = {
    "cifar100": "wide_resnet28_8",
    "fashion_mnist": "resnet10",
    "imagenet2012": "resnet50",
    "folder": "resnet50",
}
SEMISUP_LABELS = {"cifar10": 250, "cifar100": 2500, "stl10": 1000}
SEMISUP_FRACTIONS = {"imagenet2012": 0.1, "fashion_mnist": 0.01, "folder": 0.1}
# Steps when steps= is not given: the papers' 2^20, and 900 (under 20 minutes on a 2-core CPU) on
# Fashion-MNIST. Those short runs also average the weights over a shorter horizon: after 900 steps an EMA of
# 0.999 would still hold 0.999^900 = 41 % of the random initialisation.
SEMISUP_STEPS = {"fashion_mnist": 900}
SEMISUP_EMA = {"fashion_mnist": 0.99}


def semisup_config(
    arg: str | None, defaults: dict
) -> tuple[ml_collections.ConfigDict, ml_collections.ConfigDict]:
    """(options, config) of a semi-supervised run: the backbone of the dataset (Wide ResNet-28-2, -28-8 on
    CIFAR-100, the quickstart's ResNet-10 x0.25 on Fashion-MNIST), a global batch of labelled_batch x (1 + mu),
    a duration in steps (SEMISUP_STEPS) without warm-up, and config.semisup: `labels` split evenly over the
    classes (CIFAR-10's 250 labels are 25 per class), or the class-balanced `label_fraction`."""
    return semisup_config_of(common.parse_options(arg, defaults))


def semisup_config_of(
    options: ml_collections.ConfigDict,
) -> tuple[ml_collections.ConfigDict, ml_collections.ConfigDict]:
    """semisup_config of options already parsed (a config that sets some of them itself)."""
    if not options.backbone:
        options.backbone = SEMISUP_BACKBONES.get(options.dataset, "wide_resnet28_2")
    if options.steps < 0:
        options.steps = SEMISUP_STEPS.get(options.dataset, 2**20)
    options.batch = options.labelled_batch * (1 + options.mu)
    options.epochs = 0.0
    config = common.base_config(options)
    if options.dataset == "fashion_mnist" and catalog.family_of(options.backbone) == "resnet":
        config.model.width_multiplier = 0.25  # the quickstart's network, as in the README's tables
    labels_per_class, label_fraction = labelled_subset(options)
    # labelled_indices: a file of row indices (jaxssl/active's loops write them) chooses the rows instead
    config.semisup = dict(
        mu=options.mu,
        labels_per_class=labels_per_class,
        label_fraction=label_fraction,
        label_seed=0,
        labelled_indices="",
    )
    config.train.update(steps=options.steps, warmup_epochs=0.0)
    return options, config


# A tiny run's labelled subset where the options choose none.
TINY_LABELS_PER_CLASS = 2


def labelled_subset(options: ml_collections.ConfigDict) -> tuple[int, float]:
    """config.semisup's (labels_per_class, label_fraction): the given label_fraction, or the given labels split
    evenly over the classes (at most the training split), or, with neither (labels -1, label_fraction 0:
    parse_options refuses both given), the dataset's default (SEMISUP_LABELS, SEMISUP_FRACTIONS), or
    TINY_LABELS_PER_CLASS for a tiny run."""
    labels = options.labels
    if options.label_fraction > 0:
        return 0, float(options.label_fraction)
    if labels < 0:
        if options.tiny:
            return TINY_LABELS_PER_CLASS, 0.0
        if options.dataset in SEMISUP_FRACTIONS:
            return 0, SEMISUP_FRACTIONS[options.dataset]
        labels = SEMISUP_LABELS.get(options.dataset, 0)
    published = catalog.PUBLISHED_DATASETS.get(options.dataset)
    if published is None:
        raise ValueError(
            f"config option labels={labels} splits a count over the classes of a known dataset; use "
            f"label_fraction= on {options.dataset}"
        )
    classes, examples = published["num_classes"], published["train_examples"]
    allowed = f"give a multiple of {classes} up to {examples}"
    if labels % classes:
        raise ValueError(
            f"config option labels={labels} does not split evenly over {options.dataset}'s {classes} "
            f"classes: {allowed}"
        )
    if labels > examples:
        raise ValueError(
            f"config option labels={labels} asks for more labelled examples than {options.dataset}'s "
            f"{examples} training examples: {allowed}"
        )
    return labels // classes, 0.0


def make_tiny_semisup(config: ml_collections.ConfigDict) -> None:
    """The tiny run of a semi-supervised config: make_tiny's, with 4 labelled and 12 unlabelled rows, or 16
    labelled rows where the config has none unlabelled (mu = 0). Its labelled subset is semisup_config's:
    TINY_LABELS_PER_CLASS unless labels= or label_fraction= chose one."""
    common.make_tiny(config)
    config.train.update(batch_size=16, warmup_epochs=0.0)
    config.semisup.mu = 3 if config.semisup.mu else 0


def semisup_optim(dataset: str) -> dict:
    """The optimiser of FixMatch's benchmark (Sohn et al. 2020, appendix B.1; USB and TorchSSL run every
    baseline with it): SGD with Nesterov momentum 0.9, lr 0.03 decayed as cos(7 pi k / 16 K), weight decay 5e-4
    (1e-3 on CIFAR-100)."""
    return dict(
        name="sgd",
        base_lr=0.03,
        lr_scaling="none",
        weight_decay=1e-3 if dataset == "cifar100" else 5e-4,
        momentum=0.9,
        nesterov=True,
        probe_lr=1e-3,
        schedule="fixmatch_cosine",
    )
