r"""Denoising autoencoder (Vincent, Larochelle, Bengio and Manzagol 2008, "Extracting and Composing Robust
Features with Denoising Autoencoders").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/denoising_autoencoder.py:dataset=cifar10 --workdir=runs/dae_cifar10
  python -m jaxssl.main --config=configs/denoising_autoencoder.py:dataset=imagenet2012,backbone=resnet50,batch=256 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/dae_in1k

Recipe (paper, section 2 and 5): masking noise, a random 25 % of the pixels set to 0 (the paper's MNIST
variants go from 10 to 40 %), the clean image rebuilt from the corrupted one, here by the chosen backbone and
a convolutional decoder on its last feature map with the squared error (the paper trains one-hidden-layer
sigmoid autoencoders with cross-entropy, layer by layer, by SGD); Adam, lr 1e-3 x batch / 256, a cosine (our
choice). The paper's numbers are classification errors of stacked autoencoders on MNIST variants, which no
protocol here reproduces: No ImageNet anchor is quoted.
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=100, batch=256, tiny=False)


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    config.method = dict(name="denoising_autoencoder", corruption="mask", noise_level=0.25, decoder_width=128)
    config.augment = dict(preset="crop_flip", min_crop_scale=0.5)
    config.optim = dict(
        name="adamw", base_lr=1e-3, lr_scaling="linear", weight_decay=0.0, b1=0.9, b2=0.999, probe_lr=1e-3
    )
    config.train.warmup_epochs = 0.0
    common.pretext_eval(config)
    if options.tiny:
        common.make_tiny(config)
        config.method.decoder_width = 16
    return common.lock(config)
