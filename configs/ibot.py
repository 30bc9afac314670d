r"""iBOT (Zhou, Wei, Wang, Shen, Xie, Yuille and Kong 2022, "iBOT: Image BERT Pre-Training with Online
Tokenizer").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop; backbone, epochs and batch default to
the dataset's (DATASET_DEFAULTS). Examples:

  python -m jaxssl.main --config=configs/ibot.py:dataset=imagenet2012 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/ibot_vit_small_in1k
  python -m jaxssl.main --config=configs/ibot.py:dataset=cifar10 --workdir=runs/ibot_cifar10
  python -m jaxssl.main --config=configs/ibot.py:dataset=fashion_mnist --workdir=runs/vit/ibot

Recipe on ImageNet (the README's ViT-S/16 command, on the released code's DINO-derived defaults; the
paper's block-wise masking): ViT-S/16, drop path 0.1, batch 1024, 800 epochs; AdamW, lr 5e-4 x batch / 256,
10 warm-up epochs then cosine, weight decay 0.04 (raised to 0.4 by a cosine there; constant here); a head
(2048, 2048 -> 256) shared by the [CLS] and the patch tokens, 8192 outputs, its last layer frozen in the first
epoch (the released run does not weight-normalise it; our DINO head always does); student temperature 0.1,
teacher temperatures (both [CLS] and patch) from 0.04 to 0.07 over 30 epochs, centre momenta 0.9, teacher EMA
from 0.996 to 1 by a cosine; multi-crop 2 x 224 of 25-100 % of the area and 10 x 96 of 5-25 %, DINO's
colour augmentations; block-wise masks of the student's global crops on half the images, the ratio drawn per
image from (0.1, 0.5). The released code clips gradients at norm 3.0, which we do not.
Anchor to reproduce against: ImageNet ViT-S/16, 800 epochs, linear top-1 77.9 %, k-NN 75.2 %, fine-tuned
82.3 % (bytedance/ibot README).
On Fashion-MNIST (our choice, the ViT table's budget and protocols: about 30 minutes on a 2-core CPU): ViT-Ti
with 4 px patches (7 x 7 tokens, fine enough for block masks), batch 256, half an epoch (FASHION_MNIST_EPOCHS:
a step took 14-17 s alone) with a tenth of an epoch of warm-up, heads (512, 512 -> 128) and 4096 outputs, the
teacher temperatures warmed up and the last layer frozen over an eighth of an epoch, EMA from 0.99, two 28 px
crops of 25-100 % (no small crops: 14 px is not a whole number of 4 px patches); fine-tuning and the SGD
linear probe as the ViT table runs them (configs/quickstart.py). On CIFAR and STL-10 (our choice): ViT-Ti,
batch 256, 800 epochs, two crops (CIFAR; 4 px patches) or 2 x 96 + 6 x 48 (STL-10; 8 px patches).
"""

import math

from configs import common
from jaxssl import catalog

DEFAULTS = dict(dataset="imagenet2012", backbone="", epochs=0, batch=0, tiny=False)
# The dataset's backbone, epochs and batch when the options leave them out. On Fashion-MNIST, half an epoch
# (118 steps) took about 30 minutes on the 2-core CPU: a step of two 256-image views of 49 tokens through the
# student, and through the teacher, took 14-17 s alone (MoCo v3's row of the ViT table, 16 tokens: 2.4 s).
FASHION_MNIST_EPOCHS = 0.5
DATASET_DEFAULTS = {
    "imagenet2012": ("vit_small", 800, 1024),
    "folder": ("vit_small", 800, 1024),
    "fashion_mnist": ("vit_tiny", FASHION_MNIST_EPOCHS, 256),
}
SMALL_DATA_DEFAULTS = ("vit_tiny", 800, 256)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (77.9, "linear_sgd", "bytedance/ibot README, ViT-S/16, 800 epochs; k-NN 75.2"),
}


def resolve_options(arg, dataset_defaults: dict):
    """(options, epochs): the options with the dataset's (backbone, epochs, batch) of `dataset_defaults`
    (SMALL_DATA_DEFAULTS for a dataset it does not name) where they were left out; `epochs` may be a fraction
    of the default, and options.epochs (an int) is its ceiling."""
    options = common.parse_options(arg, DEFAULTS)
    backbone, default_epochs, batch = dataset_defaults.get(options.dataset, SMALL_DATA_DEFAULTS)
    options.backbone = options.backbone or backbone
    options.batch = options.batch or batch
    epochs = float(options.epochs or default_epochs)
    options.epochs = math.ceil(epochs)
    return options, epochs


def ibot_config(options, epochs: float, anchors: dict):
    """iBOT's config (the docstring's recipe) for resolved options and epochs; the anchor from `anchors`."""
    config = common.base_config(options)
    config.train.epochs = epochs
    large = config.data.image_size >= 224
    if catalog.family_of(options.backbone) == "vit":  # another family is refused by the method, in one line
        config.model.drop_path = 0.1
    config.method = dict(
        name="ibot",
        head_hidden_dims=(2048, 2048),
        bottleneck_dim=256,
        out_dim=8192,
        shared_head=True,
        patch_out_dim=8192,
        use_bn_in_head=False,
        student_temp=0.1,
        teacher_temp=0.07,
        teacher_patch_temp=0.07,
        warmup_teacher_temp=0.04,
        warmup_teacher_patch_temp=0.04,
        warmup_teacher_temp_epochs=30.0,
        center_momentum=0.9,
        patch_center_momentum=0.9,
        base_momentum=0.996,
        freeze_last_layer_epochs=1.0,
        mask_ratio=(0.1, 0.5),
        mask_probability=0.5,
        patch_loss_weight=1.0,
        centering="ema",
        sinkhorn_iterations=3,
        koleo_weight=0.0,
        koleo_groups=1,
    )
    image_size = config.data.image_size
    multi_crop = image_size >= 96
    config.augment = dict(
        preset="multicrop",
        small_size=96 if large else image_size // 2,
        num_small=(10 if large else 6) if multi_crop else 0,
        crop_scale=(0.25, 1.0),
        small_crop_scale=(0.05, 0.25),
        style="byol",
        jitter_strength=1.0,
        blur_prob=0.5,
    )
    config.optim = dict(
        name="adamw", base_lr=5e-4, lr_scaling="linear", weight_decay=0.04, b1=0.9, b2=0.999, probe_lr=1e-3
    )
    config.train.warmup_epochs = 10.0
    config.anchor = common.anchor(options.dataset, anchors)
    if options.dataset == "fashion_mnist" and not options.tiny:
        fashion_mnist_budget(config)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(
            head_hidden_dims=(32, 32),
            bottleneck_dim=16,
            out_dim=32,
            patch_out_dim=32,
            warmup_teacher_temp_epochs=0.0,
            freeze_last_layer_epochs=0.0,
        )
        config.augment.update(small_size=8, num_small=2)
    return config


def fashion_mnist_budget(config) -> None:
    """The ViT table's budget and protocols on Fashion-MNIST (docs/results/vit.md, configs/quickstart.py):
    heads of 512 and schedules scaled to half an epoch, and common.cpu_vit_recipe's evaluation, probes and
    fine-tuning with a warm-up of a tenth of an epoch."""
    config.method.update(
        head_hidden_dims=(512, 512),
        bottleneck_dim=128,
        out_dim=4096,
        patch_out_dim=4096,
        warmup_teacher_temp_epochs=0.125,
        base_momentum=0.99,
        freeze_last_layer_epochs=0.125,
    )
    common.cpu_vit_recipe(config)
    config.train.warmup_epochs = 0.1


def get_config(arg=None):
    options, epochs = resolve_options(arg, DATASET_DEFAULTS)
    return common.lock(ibot_config(options, epochs, ANCHORS))
