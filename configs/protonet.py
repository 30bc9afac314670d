r"""Prototypical Networks (Snell, Swersky and Zemel 2017, "Prototypical Networks for Few-shot Learning"),
trained on N-way K-shot episodes of the base classes (jaxssl/methods/protonet.py).

Options after the colon: dataset, backbone, ways, shots, queries, episodes (per step), steps, tiny, crop. The
global batch is episodes x ways x (shots + queries) rows. Examples:

  python -m jaxssl.main --config=configs/protonet.py:dataset=fashion_mnist --workdir=runs/protonet_fmnist
  python -m jaxssl.main --config=configs/protonet.py:dataset=fashion_mnist,shots=1 \
      --workdir=runs/protonet_fmnist_1shot
  python -m jaxssl.main --config=configs/protonet.py:dataset=cifar10 --workdir=runs/protonet_cifar10
  python -m jaxssl.main --config=configs/protonet.py:dataset=imagenet2012,ways=20,episodes=1 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/protonet_in1k

Base classes (config.data.classes): on Fashion-MNIST and CIFAR-10 the first five, 0-4 (Fashion-MNIST:
T-shirt/top, trouser, pullover, dress, coat; CIFAR-10: airplane, automobile, bird, cat, deer), so that the
novel classes 5-9 stay unseen for the episodes protocol; on the other datasets every class (hold some out
with --config.data.classes="(...)"). Episodes are drawn from the base classes of the training split only.

Recipe (paper, section 3): Adam at lr 1e-3, no weight decay, no augmentation (the weak preset here without
its translation: a horizontal flip, the only augmentation every preset has), squared Euclidean distance,
15 queries per class, one episode per step, shots matched to the test episodes; the paper trains with more
ways than it tests (Omniglot 60-way; miniImageNet 30-way 1-shot and 20-way 5-shot) and halves the lr every
2,000 episodes, a step schedule jaxssl does not have: the cosine decay over the run stands in. The paper's
Conv-4 is not among jaxssl's backbones: the default is ResNet-10 at a quarter of the width on Fashion-MNIST
(the quickstart's network, so the few-shot table compares one network), ResNet-18 elsewhere. Fashion-MNIST:
its five base classes allow 5-way episodes at most; 5-way 5-shot, 15 queries, 2 episodes per step (a batch
of 200 rows that 8 devices divide) for 2,800 steps, about 20 minutes on a 2-core CPU (estimated, not from a
full run: a step measured at 0.41 times SimCLR's quickstart step, which is 1.0 s, on a 2-core AMD EPYC Zen 4,
2026-12-06). Other datasets: 5-way 5-shot, 2 episodes, 20,000 steps (the paper stops on a validation split
instead).

Anchors (quoted as we know them, not re-checked against the PDF here): Omniglot 5-way 1-shot 98.8 %, 5-shot
99.7 %, 20-way 1-shot 96.0 %, 5-shot 98.9 % (table 1); miniImageNet 5-way 1-shot 49.42 %, 5-shot 68.20 %
(table 2), all mean accuracies over test episodes of novel classes. Neither dataset is one jaxssl loads, and
none of these is a top-1 of a protocol of ours. No ImageNet anchor is quoted.
"""

from configs import common

DEFAULTS = dict(
    dataset="fashion_mnist",
    backbone="",
    ways=5,
    shots=5,
    queries=15,
    episodes=2,
    steps=-1,
    tiny=False,
)
# The classes the methods trained on episodes see; the rest stay novel for the episodes protocol.
BASE_CLASSES = {"fashion_mnist": (0, 1, 2, 3, 4), "cifar10": (0, 1, 2, 3, 4)}
STEPS = {"fashion_mnist": 2800}
DEFAULT_STEPS = 20000
# A tiny run's episodes: 2 episodes of 2-way 1-shot with 3 queries fill its batch of 16 rows.
TINY_EPISODES = dict(ways=2, shots=1, queries=3)
EPISODE_OPTIONS = ("ways", "shots", "queries", "episodes")


def episodic_config(arg, defaults: dict, steps: dict, default_steps: int):
    """(options, config) of a method trained on episodes: the dataset's default backbone (ResNet-10 x0.25 on
    Fashion-MNIST, ResNet-18 elsewhere) and base classes (BASE_CLASSES), a global batch of whole episodes, a
    duration in steps (`steps` per dataset, else default_steps) without warm-up, no augmentation but a
    flip, Adam at lr 1e-3 without weight decay, kNN on the backbone's features. A tiny run trains
    TINY_EPISODES (refused with the options that set episodes)."""
    options = common.parse_options(arg, defaults)
    changed = [name for name in EPISODE_OPTIONS if options[name] != defaults[name]]
    if options.tiny and changed:
        raise ValueError(f"tiny=true sets its own episodes ({TINY_EPISODES}, 2 per step): drop {changed}")
    if not options.backbone:
        options.backbone = "resnet10" if options.dataset == "fashion_mnist" else "resnet18"
    if options.steps < 0:
        options.steps = steps.get(options.dataset, default_steps)
    options.batch = options.episodes * options.ways * (options.shots + options.queries)
    options.epochs = 0.0
    config = common.base_config(options)
    if options.dataset == "fashion_mnist" and options.backbone == "resnet10":
        config.model.width_multiplier = 0.25
    config.data.classes = BASE_CLASSES.get(options.dataset, ())
    config.train.update(steps=options.steps, warmup_epochs=0.0)
    config.augment = dict(preset="weak", translate=0.0, noise_std=0.0, count=1)
    config.optim = dict(name="adamw", base_lr=1e-3, lr_scaling="none", weight_decay=0.0, probe_lr=1e-3)
    config.eval.every_steps = 500
    common.pretext_eval(config)
    return options, config


def episode_sizes(options) -> dict:
    """config.method's episode sizes: the options', or TINY_EPISODES for a tiny run."""
    if options.tiny:
        return dict(TINY_EPISODES)
    return dict(ways=options.ways, shots=options.shots, queries=options.queries)


def get_config(arg=None):
    options, config = episodic_config(arg, DEFAULTS, STEPS, DEFAULT_STEPS)
    config.method = dict(name="protonet", **episode_sizes(options))
    config.optim.schedule = "warmup_cosine"
    config.anchor = common.anchor(options.dataset, {})
    if options.tiny:
        common.make_tiny(config)  # its batch of 16 rows: 2 episodes of TINY_EPISODES
    return common.lock(config)
