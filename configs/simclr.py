r"""SimCLR (Chen et al. 2020).

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/simclr.py:dataset=cifar10 --workdir=runs/simclr_cifar10
  python -m jaxssl.main --config=configs/simclr.py:dataset=imagenet2012,backbone=resnet50,batch=4096,epochs=1000 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/simclr_in1k
  python -m jaxssl.main --config=configs/simclr.py:dataset=imagenet2012,backbone=vit_small,batch=4096,epochs=300 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/simclr_vit_small_in1k

Recipe (paper, appendix B.9 and section B.1): LARS, lr = base_lr x batch / 256 (0.3 on ImageNet, 1.0 on
CIFAR), weight decay 1e-6, 10 warm-up epochs then cosine, temperature 0.1 on ImageNet (batch 4096) and
0.5 on CIFAR, colour-jitter strength 1.0 with blur on ImageNet, 0.5 without blur on CIFAR.
Anchors to reproduce against: ImageNet ResNet-50, 1000 epochs, linear top-1 69.3 % (paper, table 6);
CIFAR-10 ResNet-50, linear top-1 94.0 % (paper, table B.5 / appendix B.9).
Expected on Fashion-MNIST on a 2-core CPU: see configs/quickstart.py and the README results table.
With a ViT backbone (backbone=vit_*): the SimCLR-on-ViT recipe of MoCo v3 (Chen et al. 2021, appendix, which
trains every method it compares on ViTs with its own optimiser): AdamW, lr = 1.5e-4 x batch / 256, weight
decay 0.1, 40 warm-up epochs, 300 epochs, temperature 0.2, a 3-layer projector (4096, 4096 -> 256), 2-D sin-cos
positions. No anchor is quoted for it here.
"""

from configs import common
from jaxssl import catalog

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=1000, batch=512, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (69.3, "linear_sgd", "paper table 6, ResNet-50, 1000 epochs"),
    "cifar10": (94.0, "linear_sgd", "paper appendix B.9, ResNet-50"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="simclr", projector_hidden_dims=(2048,), projection_dim=128, temperature=0.1 if large else 0.5
    )
    config.augment = dict(
        preset="simclr",
        jitter_strength=1.0 if large else 0.5,
        blur_prob=0.5 if large else 0.0,
        min_crop_scale=0.08,
    )
    config.optim = dict(
        name="lars",
        base_lr=0.3 if large else 1.0,
        lr_scaling="linear",
        weight_decay=1e-6,
        momentum=0.9,
        trust_coefficient=0.001,
        probe_lr=1e-3,
    )
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if catalog.family_of(options.backbone) == "vit":
        vit_recipe(config)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(projector_hidden_dims=(32,), projection_dim=16)
    return common.lock(config)


def vit_recipe(config) -> None:
    """The ViT settings quoted in the docstring, over the ResNet ones."""
    config.model.pos_embed = "sincos"
    config.method.update(projector_hidden_dims=(4096, 4096), projection_dim=256, temperature=0.2)
    config.optim = dict(
        name="adamw", base_lr=1.5e-4, lr_scaling="linear", weight_decay=0.1, b1=0.9, b2=0.999, probe_lr=1e-3
    )
    config.train.warmup_epochs = 40.0
    config.anchor = common.anchor("", {})
