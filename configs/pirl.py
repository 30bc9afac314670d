r"""PIRL (Misra and van der Maaten 2020, "Self-Supervised Learning of Pretext-Invariant Representations").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/pirl.py:dataset=cifar10 --workdir=runs/pirl_cifar10
  python -m jaxssl.main --config=configs/pirl.py:dataset=imagenet2012,backbone=resnet50,batch=1024 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/pirl_in1k

Recipe on ImageNet (paper, sections 3-4; the authors' VISSL configuration for what the paper leaves open): a
ResNet-50; f a linear 128-d projection of the pooled res5 features; g the same backbone on each of the 9 tiles
of a 3 x 3 grid (the Jigsaw layout, tiles filling 64/75 of their cell: 63 px in 74 px cells of the 224 px
view), each tile's features projected to 128, concatenated in a random order and projected to 128; a memory
bank of every image's f, moved with momentum 0.5; NCE with 32,000 negatives from the bank, temperature 0.07,
lambda 0.5 between the jigsaw and the image term; SGD, momentum 0.9, lr 0.03 x batch / 256 (0.12 at 1024),
weight decay 1e-4, cosine, 800 epochs. Views: two draws of random resized crops from 8 %, colour jitter 0.4
(hue 0.1 here, VISSL's 0.2), grayscale 0.2 and flip; the tiles are cut from the second (VISSL augments each
tile on its own).
On CIFAR, STL-10 and Fashion-MNIST (no published small-data recipe; ours): ResNet-18, batch 256, 200 epochs,
InstDisc's CIFAR optimiser (SGD lr 0.2 x batch / 256, weight decay 5e-4), 4,096 negatives, crops from 20 %,
the same tile layout (8 px tiles in 10 px cells on CIFAR, 7 in 9 on Fashion-MNIST).
Anchors to reproduce against (quoted as we know them, not re-checked against the PDF here): ImageNet
ResNet-50, linear top-1 63.6 % on res5 (the paper's linear classification table); fine-tuned on 1 % / 10 % of
the labels, top-5 57.2 / 83.8 % (the paper's semi-supervised table; SimCLR's table 7 quotes them with top-1
30.7 / 60.4 %).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=200, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (63.6, "linear_sgd", "paper, ResNet-50, res5 linear (not re-checked)"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="pirl",
        projection_dim=128,
        temperature=0.07,
        memory_momentum=0.5,
        num_negatives=32000 if large else 4096,
        mix=0.5,
        grid=3,
        **common.tile_layout(config.data.image_size, grid=3, fill=64 / 75),
    )
    config.augment = dict(
        preset="simclr", jitter_strength=0.5, blur_prob=0.0, min_crop_scale=0.08 if large else 0.2
    )
    config.optim = dict(
        name="sgd",
        base_lr=0.03 if large else 0.2,
        lr_scaling="linear",
        weight_decay=1e-4 if large else 5e-4,
        momentum=0.9,
        nesterov=False,
        probe_lr=1e-3,
    )
    config.train.warmup_epochs = 0.0
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(projection_dim=16, num_negatives=16, **common.tile_layout(16, 3, 64 / 75))
    return common.lock(config)
