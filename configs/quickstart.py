r"""Quickstart: SimCLR or BYOL pretraining on Fashion-MNIST on a laptop-class CPU in under 20 minutes.

Fashion-MNIST is read from Debian's `dataset-fashion-mnist` IDX files (/usr/share/datasets/fashion-mnist/)
or, if absent, from TFDS (`--config.data.download=True` on a networked machine). Options: method (simclr |
byol), backbone, epochs, batch, tiny.

  python -m jaxssl.main --config=configs/quickstart.py:method=simclr --workdir=runs/quickstart_simclr
  python -m jaxssl.main --config=configs/quickstart.py:method=byol --workdir=runs/quickstart_byol
  python -m jaxssl.main --mode=evaluate --workdir=runs/quickstart_simclr     # offline kNN + linear probe

Model for the budget: a ResNet-18 at a quarter of the width (16 base channels, 128-d features) with the CIFAR
stem at the native 28x28, crops of at least 20 % of the image (the papers' 8 % leaves too little of a
28-pixel image), Adam-free LARS as in the papers with a short warm-up. Expected: see the README results table.
"""

from configs import byol, common, simclr

DEFAULTS = dict(method="simclr", backbone="resnet10", epochs=4, batch=256, tiny=False)
METHOD_CONFIGS = {"simclr": simclr, "byol": byol}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    if options.method not in METHOD_CONFIGS:
        raise ValueError(f"unknown method {options.method!r}; choose from {sorted(METHOD_CONFIGS)}")
    config = METHOD_CONFIGS[options.method].get_config(
        f"dataset=fashion_mnist,backbone={options.backbone},epochs={options.epochs},batch={options.batch},"
        f"tiny={options.tiny}"
    )
    if options.tiny:
        return config
    config.model.width_multiplier = 0.25
    config.method.projector_hidden_dims = (512,)
    if options.method == "byol":
        config.method.predictor_hidden_dims = (512,)
    config.augment.min_crop_scale = 0.2
    config.train.warmup_epochs = 0.5
    config.eval.update(every_steps=500, bank_examples=10000)
    config.checkpoint.every_steps = 500
    return config
