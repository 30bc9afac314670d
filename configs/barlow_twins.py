r"""Barlow Twins (Zbontar, Jing, Misra, LeCun and Deny 2021, "Barlow Twins: Self-Supervised Learning via
Redundancy Reduction").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/barlow_twins.py:dataset=cifar10 --workdir=runs/barlow_twins_cifar10
  python -m jaxssl.main --config=configs/barlow_twins.py:dataset=imagenet2012,backbone=resnet50,batch=2048 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/barlow_twins_in1k

Recipe on ImageNet (paper, "Implementation details"; facebookresearch/barlowtwins README): LARS (trust
coefficient 0.001), lr = 0.2 x batch / 256 for the weights, weight decay 1.5e-6, batch 2048, 1000 epochs, 10
warm-up epochs then cosine; projector three linear layers of 8192 (BN and ReLU after the first two); lambda =
0.0051 (the code's value; the paper writes 5e-3); BYOL's asymmetric views. Not expressed here: the paper's
separate lr 0.0048 for biases and BN parameters, and the code's loss scale 0.024.
On CIFAR, STL-10 and Fashion-MNIST: solo-learn's CIFAR recipe (scripts/pretrain/cifar/barlow.yaml): projector
2048-2048-2048, LARS with trust coefficient 0.02, lr 0.3 x batch / 256, weight decay 1e-4, batch 256, the
asymmetric views with crops from 8 % (solo-learn drops the blur on 32 px images and scales the loss by 0.1;
neither is expressed here).
Anchors to reproduce against: CIFAR-10 ResNet-18, 1000 epochs, online linear top-1 92.10 % (CIFAR-100:
70.90 %) (solo-learn README, results tables); ImageNet ResNet-50, 1000 epochs, linear top-1 73.2 % (paper,
table 1; the released checkpoint: 73.3 %, facebookresearch/barlowtwins README).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=1000, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "cifar10": (92.1, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "cifar100": (70.9, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "imagenet2012": (73.2, "linear_sgd", "paper table 1, ResNet-50, 1000 epochs"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    width = 8192 if large else 2048
    config.method = dict(
        name="barlow_twins", projector_hidden_dims=(width, width), projection_dim=width, lambd=0.0051
    )
    config.augment = dict(preset="byol", min_crop_scale=0.08)
    config.optim = dict(
        name="lars",
        base_lr=0.2 if large else 0.3,
        lr_scaling="linear",
        weight_decay=1.5e-6 if large else 1e-4,
        momentum=0.9,
        trust_coefficient=0.001 if large else 0.02,
        probe_lr=1e-3,
    )
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(projector_hidden_dims=(32, 32), projection_dim=16)
    return common.lock(config)
