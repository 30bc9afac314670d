r"""MAML (Finn, Abbeel and Levine 2017, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks"),
trained on N-way K-shot episodes of the base classes (jaxssl/methods/maml.py).

Options after the colon: dataset, backbone, ways, shots, queries, episodes (per step: the meta-batch), steps,
inner_steps, inner_lr, first_order, tiny, crop. The global batch is episodes x ways x (shots + queries) rows;
the base classes are protonet's (configs/protonet.py). Examples:

  python -m jaxssl.main --config=configs/maml.py:dataset=fashion_mnist --workdir=runs/maml_fmnist
  python -m jaxssl.main --config=configs/maml.py:dataset=fashion_mnist,first_order=true,steps=1500 \
      --workdir=runs/fomaml_fmnist
  python -m jaxssl.main --config=configs/maml.py:dataset=cifar10,shots=1,episodes=4 \
      --workdir=runs/maml_cifar10
  python -m jaxssl.main --config=configs/maml.py:dataset=imagenet2012,first_order=true \
      --config.data.manual_dir=/data/imagenet --workdir=runs/maml_in1k

Recipe (as we know it, paper section 5.2 and appendix A.1): the meta-optimiser Adam at lr 1e-3 (beta =
0.001), constant, no weight decay, no augmentation (a horizontal flip here, the only augmentation every preset
has); 15 queries per class; on miniImageNet 5 inner steps of alpha = 0.01 in training (10 at test), a
meta-batch of 4 episodes at 1 shot and 2 at 5 shots, 60,000 meta-iterations; on Omniglot one inner step of
alpha = 0.4 and a meta-batch of 32 episodes (5-way). First-order MAML (first_order=true) drops the second
derivatives. The defaults here are the miniImageNet recipe, 5-way 5-shot with a meta-batch of 2 (a batch of
200 rows), on the quickstart's ResNet-10 x0.25 on Fashion-MNIST (the paper's Conv-4 is not among jaxssl's
backbones; ResNet-18 elsewhere). On Fashion-MNIST 300 steps, about 20 minutes on a 2-core CPU (estimated,
not from a full run: a step measured at 3.7 times SimCLR's quickstart step, which is 1.0 s, on a 2-core AMD
EPYC Zen 4, 2026-12-06); a first-order step is about five times faster, so steps=1500 fits the same time.
BatchNorm normalises every inner and query forward by its own batch's statistics, as the paper's reference
does (jaxssl/methods/maml.py).

Anchors (quoted as we know them, not re-checked against the PDF here): Omniglot 5-way 1-shot 98.7 %, 5-shot
99.9 %, 20-way 1-shot 95.8 %, 5-shot 98.9 % (table 1); miniImageNet 5-way 1-shot 48.70 %, 5-shot 63.11 %,
first-order 48.07 % and 63.15 % (table 1), all mean accuracies over test episodes of novel classes after the
test-time inner steps. Neither dataset is one jaxssl loads, and none of these is a top-1 of a protocol of
ours. No ImageNet anchor is quoted.
"""

from configs import common, protonet

DEFAULTS = dict(protonet.DEFAULTS, inner_steps=5, inner_lr=0.01, first_order=False)
STEPS = {"fashion_mnist": 300}
EVAL_EVERY = {"fashion_mnist": 100}
DEFAULT_STEPS = 60000
TINY_INNER_STEPS = 1


def get_config(arg=None):
    options, config = protonet.episodic_config(arg, DEFAULTS, STEPS, DEFAULT_STEPS)
    config.method = dict(
        name="maml",
        **protonet.episode_sizes(options),
        inner_steps=TINY_INNER_STEPS if options.tiny else options.inner_steps,
        inner_lr=options.inner_lr,
        first_order=options.first_order,
    )
    config.optim.schedule = "constant"
    config.eval.every_steps = EVAL_EVERY.get(options.dataset, config.eval.every_steps)
    config.anchor = common.anchor(options.dataset, {})
    if options.tiny:
        common.make_tiny(config)  # its batch of 16 rows: 2 episodes of protonet.TINY_EPISODES
    return common.lock(config)
