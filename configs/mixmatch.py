r"""MixMatch (Berthelot et al. 2019, "MixMatch: A Holistic Approach to Semi-Supervised Learning").

Options after the colon: dataset, backbone, labels, label_fraction, steps, labelled_batch (B_l), mu, tiny, crop
(configs/semisup.py semisup_config; mu defaults to 1 here: one unlabelled row per labelled row, the paper's
64 + 64), optimizer (adam, the paper's; sgd, the benchmark's). Examples:

  python -m jaxssl.main --config=configs/mixmatch.py:dataset=cifar10,labels=250 --workdir=runs/mixmatch_c10_250
  python -m jaxssl.main --config=configs/mixmatch.py:dataset=fashion_mnist,label_fraction=0.01 \
      --workdir=runs/mixmatch_fmnist_1pc
  python -m jaxssl.main --config=configs/mixmatch.py:dataset=imagenet2012,label_fraction=0.1 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/mixmatch_in1k_10pc

Recipe (paper, section 4.1): K = 2 weak views (flip and translation) of every unlabelled row, guesses sharpened
at T = 0.5, MixUp with alpha = 0.75, lambda_U = 75 on CIFAR-10 (150 on CIFAR-100) ramped up linearly over the
first 16,000 steps, the weights' EMA (0.999) evaluated, 2^20 steps of 64 labelled and 64 unlabelled rows on a
WRN-28-2, Adam at a fixed lr of 0.002 with weight decay 0.02 x lr per step (AdamW's decoupled decay). USB and
TorchSSL run MixMatch with FixMatch's SGD recipe instead: the option optimizer=sgd (configs/common.py
semisup_optim).
Fashion-MNIST: 900 steps, lambda_U ramped over the first 40 % of them, an EMA of 0.99.
Anchors, quoted as we know them and not re-checked against the PDF: CIFAR-10 250 / 4000 labels 88.92 / 93.76
(error 11.08 / 6.24 %, paper, table 1 and figure 2). No ImageNet anchor is quoted.
"""

from configs import common, semisup

DEFAULTS = {**semisup.SEMISUP_DEFAULTS, "mu": 1, "optimizer": "adam"}
OPTIMIZERS = ("adam", "sgd")
UNLABELLED_WEIGHT = {"cifar100": 150.0}
RAMP_STEPS = 16000
RAMP_FRACTION = 0.4
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "cifar10": (88.92, "classifier", "paper, CIFAR-10 250 labels, WRN-28-2; its own classifier, EMA"),
}


def get_config(arg=None):
    options, config = semisup.semisup_config(arg, DEFAULTS)
    config.method = dict(
        name="mixmatch",
        temperature=0.5,
        alpha=0.75,
        unlabelled_weight=UNLABELLED_WEIGHT.get(options.dataset, 75.0),
        ramp_up_steps=min(RAMP_STEPS, round(RAMP_FRACTION * options.steps)),
        ema=semisup.SEMISUP_EMA.get(options.dataset, 0.999),
    )
    config.augment = dict(preset="weak", translate=0.125, noise_std=0.0, count=2)
    if options.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={options.optimizer!r}: choose from {list(OPTIMIZERS)}")
    config.optim = semisup.semisup_optim(options.dataset)
    if options.optimizer == "adam":
        config.optim = dict(
            name="adamw",
            base_lr=0.002,
            lr_scaling="none",
            weight_decay=0.02,  # AdamW's decay is lr x 0.02 per step: the paper's "weight decay 0.02"
            b1=0.9,
            b2=0.999,
            probe_lr=1e-3,
            schedule="constant",
        )
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        semisup.make_tiny_semisup(config)
        config.method.ramp_up_steps = 2
    return common.lock(config)
