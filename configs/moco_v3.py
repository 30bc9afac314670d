r"""MoCo v3 (Chen, Xie and He 2021, "An Empirical Study of Training Self-Supervised Vision Transformers").

Options after the colon: dataset, backbone, epochs, batch, tiny. Examples:

  python -m jaxssl.main --config=configs/moco_v3.py:dataset=cifar10 --workdir=runs/moco_v3_cifar10
  python -m jaxssl.main --config=configs/moco_v3.py:dataset=imagenet2012,backbone=resnet50,batch=4096,epochs=1000 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/moco_v3_in1k

Recipe on ImageNet (paper, appendix; the ResNet-50 1000-epoch setup of facebookresearch/moco-v3 CONFIG.md):
LARS (trust coefficient 0.001), lr = 0.3 x batch / 256, weight decay 1.5e-6, batch 4096, 10 warm-up epochs
then cosine; momentum encoder m from 0.996 to 1 by a cosine; temperature 1.0; BYOL's asymmetric views with
crops of at least 20 %. Heads as the reference code builds them for a ResNet: a 2-layer projector
Linear(4096)-BN-ReLU-Linear(256)-BN and a 2-layer predictor with hidden 4096 (the 3-layer projector is the
ViT's). For 300 epochs the reference keeps weight decay 1e-6 and m 0.99 (for 100 epochs also lr 0.6).
On CIFAR, STL-10 and Fashion-MNIST: solo-learn's CIFAR recipe (scripts/pretrain/cifar/mocov3.yaml): LARS with
trust coefficient 0.02, lr 0.3 x batch / 256, weight decay 1e-6, batch 256, temperature 0.2, m from 0.99, the
asymmetric views with crops from 8 % (solo-learn drops the blur on 32 px images; the byol preset keeps it).
Anchors to reproduce against: CIFAR-10 ResNet-18, 1000 epochs, online linear top-1 93.10 % (CIFAR-100:
68.83 %) (solo-learn README, results tables); ImageNet ResNet-50, 1000 epochs, linear top-1 74.6 % (300
epochs: 72.8 %, 100 epochs: 68.9 %) (facebookresearch/moco-v3 CONFIG.md; the paper's own ResNet-50 table:
unverified).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=1000, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "cifar10": (93.1, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "cifar100": (68.83, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "imagenet2012": (74.6, "linear_sgd", "facebookresearch/moco-v3 CONFIG.md, ResNet-50, 1000 epochs"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="moco_v3",
        projector_hidden_dims=(4096,),
        projection_dim=256,
        predictor_hidden_dims=(4096,),
        temperature=1.0 if large else 0.2,
        base_momentum=0.996 if large else 0.99,
    )
    config.augment = dict(preset="byol", min_crop_scale=0.2 if large else 0.08)
    config.optim = dict(
        name="lars",
        base_lr=0.3,
        lr_scaling="linear",
        weight_decay=1.5e-6 if large else 1e-6,
        momentum=0.9,
        trust_coefficient=0.001 if large else 0.02,
        probe_lr=1e-3,
    )
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(projector_hidden_dims=(32,), projection_dim=16, predictor_hidden_dims=(32,))
    return common.lock(config)
