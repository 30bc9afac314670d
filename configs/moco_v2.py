r"""MoCo v2 (Chen, Fan, Girshick and He 2020, "Improved Baselines with Momentum Contrastive Learning").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/moco_v2.py:dataset=cifar10 --workdir=runs/moco_v2_cifar10
  python -m jaxssl.main --config=configs/moco_v2.py:dataset=imagenet2012,backbone=resnet50,batch=256,epochs=800 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/moco_v2_in1k

Recipe on ImageNet (MoCo v2 paper, tables 1-2; MoCo v1 paper for what v2 keeps): SGD, momentum 0.9, lr = 0.03
x batch / 256, weight decay 1e-4, batch 256, cosine decay without warm-up; head Linear(2048)-ReLU-Linear(128);
InfoNCE with temperature 0.2 against a queue of 65,536 keys, key encoder an EMA with m = 0.999; shuffled BN
over 8 groups (the paper's 8 GPUs); "aug+": crops of at least 20 % of the area, colour jitter (0.4, 0.4, 0.4,
0.1) with p 0.8 (the simclr preset at strength 0.5), grayscale 0.2, blur 0.5.
On CIFAR, STL-10 and Fashion-MNIST: solo-learn's "MoCo V2+" CIFAR recipe
(scripts/pretrain/cifar/mocov2plus.yaml, augmentations/symmetric_weak.yaml): SGD lr 0.3 x batch / 256, weight
decay 1e-4, batch 256, 10 warm-up epochs, symmetric loss, output 256, queue 32,768, temperature 0.2, crops
from 8 %, blur 0.5. solo-learn raises m from 0.99 to 0.999 by a cosine; here m is constant, 0.99. Weight decay
skips biases and norm parameters here.
Anchors to reproduce against: CIFAR-10 ResNet-18, 1000 epochs, online linear top-1 92.94 % (CIFAR-100:
69.89 %) (solo-learn README, results tables, "MoCo V2+"); ImageNet ResNet-50, 800 epochs, linear top-1 71.1 %
(200 epochs: 67.5 %) (paper, table 2; also facebookresearch/moco README).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=1000, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "cifar10": (92.94, "online_probe", "solo-learn README, ResNet-18, 1000 epochs (MoCo V2+)"),
    "cifar100": (69.89, "online_probe", "solo-learn README, ResNet-18, 1000 epochs (MoCo V2+)"),
    "imagenet2012": (71.1, "linear_sgd", "paper table 2, ResNet-50, 800 epochs"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="moco_v2",
        projector_hidden_dims=(2048,),
        projection_dim=128 if large else 256,
        queue_size=65536 if large else 32768,
        temperature=0.2,
        momentum=0.999 if large else 0.99,
        bn_groups=8,
        symmetric=not large,
    )
    config.augment = dict(
        preset="simclr", jitter_strength=0.5, blur_prob=0.5, min_crop_scale=0.2 if large else 0.08
    )
    config.optim = dict(
        name="sgd",
        base_lr=0.03 if large else 0.3,
        lr_scaling="linear",
        weight_decay=1e-4,
        momentum=0.9,
        probe_lr=1e-3,
    )
    if large:
        config.train.warmup_epochs = 0.0
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(projector_hidden_dims=(32,), projection_dim=16, queue_size=64, bn_groups=2)
    return common.lock(config)
