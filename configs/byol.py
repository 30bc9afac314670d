r"""BYOL (Grill et al. 2020).

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/byol.py:dataset=cifar10 --workdir=runs/byol_cifar10
  python -m jaxssl.main --config=configs/byol.py:dataset=imagenet2012,backbone=resnet50,batch=4096,epochs=1000 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/byol_in1k

Recipe (paper, section 3.3 and appendix B): LARS, lr = 0.2 x batch / 256, weight decay 1.5e-6 on ImageNet,
10 warm-up epochs then cosine; target decay tau from 0.996 (ImageNet) or 0.99 (CIFAR) to 1 by a cosine;
projector and predictor Linear(4096)-BN-ReLU-Linear(256); the asymmetric view pair (blur 1.0/0.1,
solarize 0/0.2). On CIFAR: lr 1.0 x batch / 256, weight decay 1e-5, batch 256 (small-data practice).
Anchors to reproduce against: ImageNet ResNet-50, 1000 epochs, linear top-1 74.3 % (paper, table 1).
Expected on Fashion-MNIST on a 2-core CPU: see configs/quickstart.py and the README results table.
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=1000, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (74.3, "linear_sgd", "paper table 1, ResNet-50, 1000 epochs"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="byol",
        projector_hidden_dims=(4096,),
        projection_dim=256,
        predictor_hidden_dims=(4096,),
        base_tau=0.996 if large else 0.99,
    )
    config.augment = dict(preset="byol", min_crop_scale=0.08)
    config.optim = dict(
        name="lars",
        base_lr=0.2 if large else 1.0,
        lr_scaling="linear",
        weight_decay=1.5e-6 if large else 1e-5,
        momentum=0.9,
        trust_coefficient=0.001,
        probe_lr=1e-3,
    )
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(projector_hidden_dims=(32,), projection_dim=16, predictor_hidden_dims=(32,))
    return common.lock(config)
