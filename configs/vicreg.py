r"""VICReg (Bardes, Ponce and LeCun 2022, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/vicreg.py:dataset=cifar10 --workdir=runs/vicreg_cifar10
  python -m jaxssl.main --config=configs/vicreg.py:dataset=imagenet2012,backbone=resnet50,batch=2048 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/vicreg_in1k

Recipe on ImageNet (paper, section 4 and appendix; facebookresearch/vicreg README, 1000-epoch command): LARS
(trust coefficient 0.001), lr = 0.2 x batch / 256, weight decay 1e-6, batch 2048, 1000 epochs, 10 warm-up
epochs then cosine; expander three linear layers of 8192 (BN and ReLU after the first two); loss coefficients
lambda = mu = 25, nu = 1; BYOL's asymmetric views.
On CIFAR, STL-10 and Fashion-MNIST: solo-learn's CIFAR recipe (scripts/pretrain/cifar/vicreg.yaml): expander
2048-2048-2048, LARS with trust coefficient 0.02, lr 0.3 x batch / 256, weight decay 1e-4, batch 256, crops
from 20 %; solo-learn's views there have no blur and solarize 0.1 on both, here the byol preset's asymmetric
pair.
Anchors to reproduce against: CIFAR-10 ResNet-18, 1000 epochs, online linear top-1 92.07 % (CIFAR-100:
68.54 %) (solo-learn README, results tables); ImageNet ResNet-50, 1000 epochs, linear top-1 73.2 % (paper,
table 1; facebookresearch/vicreg README).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=1000, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "cifar10": (92.07, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "cifar100": (68.54, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "imagenet2012": (73.2, "linear_sgd", "paper table 1, ResNet-50, 1000 epochs"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    width = 8192 if large else 2048
    config.method = dict(
        name="vicreg",
        projector_hidden_dims=(width, width),
        projection_dim=width,
        sim_coeff=25.0,
        std_coeff=25.0,
        cov_coeff=1.0,
    )
    config.augment = dict(preset="byol", min_crop_scale=0.08 if large else 0.2)
    config.optim = dict(
        name="lars",
        base_lr=0.2 if large else 0.3,
        lr_scaling="linear",
        weight_decay=1e-6 if large else 1e-4,
        momentum=0.9,
        trust_coefficient=0.001 if large else 0.02,
        probe_lr=1e-3,
    )
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(projector_hidden_dims=(32, 32), projection_dim=16)
    return common.lock(config)
