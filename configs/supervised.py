r"""The supervised baseline of the semi-supervised tables: the labelled subset alone, on the semi-supervised
methods' network, augmentation, optimiser and steps (jaxssl/methods/supervised.py).

Options after the colon: the semi-supervised ones (configs/fixmatch.py): dataset, backbone, labels,
label_fraction, steps, labelled_batch, tiny, crop; `mu` must stay 0 (no unlabelled rows). Examples:

  python -m jaxssl.main --config=configs/supervised.py:dataset=cifar10,labels=250 --workdir=runs/sup_c10_250
  python -m jaxssl.main --config=configs/supervised.py:dataset=fashion_mnist,labels=100 \
      --workdir=runs/sup_fmnist_100
  python -m jaxssl.main --config=configs/supervised.py:dataset=imagenet2012,label_fraction=0.1 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/sup_in1k_10pc

Recipe: FixMatch's benchmark (Sohn et al. 2020, appendix B.1) without its unlabelled rows: B_l = 64 labelled
rows per step (each row of a small subset is drawn many times: 900 steps at 100 labels are 576 passes over
it), one weak view (flip and a 12.5 % reflect-padded translation), the WRN-28-2 (-28-8 on CIFAR-100; the
quickstart's ResNet-10 x0.25 on Fashion-MNIST), SGD with Nesterov momentum 0.9, lr 0.03 with the
fixmatch_cosine decay, weight decay 5e-4, the same steps, and an EMA of the weights as the evaluated model
(0.999; 0.99 on Fashion-MNIST's 900 steps), as FixMatch's. The rows it is compared with then differ from it
only in their unlabelled rows. No anchor is quoted: the papers' and libraries' supervised rows use other
recipes, which we have not re-checked. No ImageNet anchor is quoted either.
"""

from configs import common, semisup

DEFAULTS = dict(semisup.SEMISUP_DEFAULTS, mu=0)


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    if options.mu != 0:
        raise ValueError(f"the supervised baseline has no unlabelled rows: mu must be 0, got {options.mu}")
    options, config = semisup.semisup_config_of(options)
    config.method = dict(name="supervised", ema=semisup.SEMISUP_EMA.get(options.dataset, 0.999))
    config.augment = dict(preset="weak", translate=0.125, noise_std=0.0, count=1)
    config.optim = semisup.semisup_optim(options.dataset)
    if options.tiny:
        semisup.make_tiny_semisup(config)
    return common.lock(config)
