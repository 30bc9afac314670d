r"""Co-training of two deep networks (Blum and Mitchell 1998) (jaxssl/methods/co_training.py): each network's
confident predictions on its own view label the other network's view. Deep co-training's own objective (Qiao
et al. 2018) is configs/deep_co_training.py.

Options after the colon: the semi-supervised ones (configs/fixmatch.py): dataset, backbone, labels,
label_fraction, steps, labelled_batch, mu, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/co_training.py:dataset=cifar10,labels=4000 --workdir=runs/cot_c10
  python -m jaxssl.main --config=configs/co_training.py:dataset=fashion_mnist,label_fraction=0.01 \
      --workdir=runs/cot_fmnist_1pc
  python -m jaxssl.main --config=configs/co_training.py:dataset=imagenet2012,label_fraction=0.1 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/cot_in1k_10pc

Recipe: the budget, batch (B_l = 64, mu = 7), networks (two WRN-28-2 on CIFAR-10 / STL-10, -28-8 on
CIFAR-100, two ResNet-10 x0.25 on Fashion-MNIST) and SGD schedule of FixMatch, so the semi-supervised methods
compare on the same labels and steps; the two views are independent weak augmentations (flip and a
reflect-padded translation); a confidence threshold of 0.95 (FixMatch's) and lambda_u 1.
No ImageNet anchor is quoted, nor any other.
"""

from configs import common, semisup

DEFAULTS = semisup.SEMISUP_DEFAULTS


def get_config(arg=None):
    options, config = semisup.semisup_config(arg, DEFAULTS)
    config.method = dict(name="co_training", threshold=0.95, unlabelled_weight=1.0)
    config.augment = dict(preset="weak", translate=0.125, noise_std=0.0, count=2)
    config.optim = semisup.semisup_optim(options.dataset)
    if options.tiny:
        semisup.make_tiny_semisup(config)
    return common.lock(config)
