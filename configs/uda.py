r"""UDA (Xie et al. 2020, "Unsupervised Data Augmentation for Consistency Training") (jaxssl/methods/uda.py).

Options after the colon: the semi-supervised ones (configs/fixmatch.py): dataset, backbone, labels,
label_fraction, steps, labelled_batch, mu, tiny, crop; and tsa, the training-signal annealing schedule of the
labelled rows (none, linear, log or exp over the run's steps). Examples:

  python -m jaxssl.main --config=configs/uda.py:dataset=cifar10,labels=250 --workdir=runs/uda_c10_250
  python -m jaxssl.main --config=configs/uda.py:dataset=cifar10,labels=4000,tsa=linear \
      --workdir=runs/uda_c10_4000_tsa
  python -m jaxssl.main --config=configs/uda.py:dataset=fashion_mnist,label_fraction=0.01 \
      --workdir=runs/uda_fmnist_1pc
  python -m jaxssl.main --config=configs/uda.py:dataset=imagenet2012,label_fraction=0.1 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/uda_in1k_10pc

Recipe (paper, section 3.2 and the authors' released CIFAR-10 code): the weak view's prediction sharpened at
temperature 0.4 and kept where its confidence is above 0.8 is the target of the RandAugment view's (a KL
divergence, weight 1, the mean over every unlabelled row); no training-signal annealing on CIFAR-10 (the
released code's default; tsa= turns it on); a WRN-28-2 with 64 labelled and 7 x 64 unlabelled rows per step
and SGD with Nesterov momentum 0.9 at lr 0.03 and weight decay 5e-4, as FixMatch's benchmark, which this
config runs (2^20 steps, the fixmatch_cosine decay; the released code trains 500,000 steps after a 20,000-step
warm-up). Views: FixMatch's weak and strong (the fixmatch preset: flip and translation; then RandAugment, 2 ops
at random magnitudes, and Cutout). The weights' EMA (0.999) is evaluated, as the benchmark evaluates every
method. Fashion-MNIST: the quickstart's ResNet-10 x0.25, 900 steps, an EMA of 0.99, as FixMatch's.
Anchors: the authors' released CIFAR-10 script lists 94.57 % (+- 0.96) at 250 labels and 95.68 % at 4000
(WRN-28-2, its own classifier); the config carries the 250-label one. Quoted as we know it and not re-checked
against the PDF: FixMatch's table 2 reports UDA on CIFAR-100 at 2500 labels at 33.13 % error (66.87 %), the
config's CIFAR-100 anchor. No ImageNet anchor is quoted.
"""

from configs import common, semisup

DEFAULTS = {**semisup.SEMISUP_DEFAULTS, "tsa": "none"}
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "cifar10": (
        94.57,
        "classifier",
        "authors' released CIFAR-10 script, 250 labels, WRN-28-2; own classifier",
    ),
    "cifar100": (66.87, "classifier", "FixMatch paper, table 2, UDA, 2500 labels; its own classifier"),
}


def get_config(arg=None):
    options, config = semisup.semisup_config(arg, DEFAULTS)
    config.method = dict(
        name="uda",
        temperature=0.4,
        threshold=0.8,
        unlabelled_weight=1.0,
        tsa_schedule=options.tsa,
        tsa_steps=options.steps,
        ema=semisup.SEMISUP_EMA.get(options.dataset, 0.999),
    )
    config.augment = dict(preset="fixmatch", translate=0.125, randaugment_ops=2, cutout=0.5)
    config.optim = semisup.semisup_optim(options.dataset)
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        semisup.make_tiny_semisup(config)
        config.method.tsa_steps = config.train.steps
    return common.lock(config)
