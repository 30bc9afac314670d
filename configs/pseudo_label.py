r"""Pseudo-label (Lee 2013, "Pseudo-Label: The Simple and Efficient Semi-Supervised Learning Method for Deep
Neural Networks").

Options after the colon: dataset, backbone, labels, label_fraction, steps, labelled_batch (B_l), mu, tiny, crop
(configs/semisup.py semisup_config). Examples:

  python -m jaxssl.main --config=configs/pseudo_label.py:dataset=cifar10,labels=250 --workdir=runs/pl_c10_250
  python -m jaxssl.main --config=configs/pseudo_label.py:dataset=fashion_mnist,label_fraction=0.01,steps=900 \
      --workdir=runs/pl_fmnist_1pc
  python -m jaxssl.main --config=configs/pseudo_label.py:dataset=imagenet2012,label_fraction=0.1 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/pl_in1k_10pc

Recipe: the paper trains small MLPs on MNIST (a hard label from the largest output of every unlabelled row,
its weight alpha ramped linearly from 0 at epoch T1 = 100 to alpha_f = 3 at T2 = 600, no threshold). On the
image benchmarks this config follows the baseline of FixMatch's benchmark as USB and TorchSSL run it: the
WRN-28-2 (-28-8 on CIFAR-100), B_l = 64, mu = 7, SGD with Nesterov momentum 0.9, lr 0.03 with the
fixmatch_cosine decay, weight decay 5e-4, a confidence threshold of 0.95, the unlabelled weight 1 ramped up
linearly over the first 40 % of the steps; one weak view (flip and 12.5 % translation). Evaluated on the
online weights, as the paper. No anchor is set: the paper's numbers are MNIST's, and we have not re-checked
the libraries' CIFAR values. No ImageNet anchor is quoted either.
"""

from configs import common, semisup

DEFAULTS = semisup.SEMISUP_DEFAULTS
RAMP_FRACTION = 0.4


def get_config(arg=None):
    options, config = semisup.semisup_config(arg, DEFAULTS)
    config.method = dict(
        name="pseudo_label",
        threshold=0.95,
        unlabelled_weight=1.0,
        ramp_start_steps=0,
        ramp_end_steps=round(RAMP_FRACTION * options.steps),
    )
    config.augment = dict(preset="weak", translate=0.125, noise_std=0.0, count=1)
    config.optim = semisup.semisup_optim(options.dataset)
    if options.tiny:
        semisup.make_tiny_semisup(config)
        config.method.ramp_end_steps = 2
    return common.lock(config)
