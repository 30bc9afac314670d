r"""NNCLR (Dwibedi, Aytar, Tompson, Sermanet and Zisserman 2021, "With a Little Help from My Friends:
Nearest-Neighbor Contrastive Learning of Visual Representations").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/nnclr.py:dataset=cifar10 --workdir=runs/nnclr_cifar10
  python -m jaxssl.main --config=configs/nnclr.py:dataset=imagenet2012,backbone=resnet50,batch=4096,epochs=1000 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/nnclr_in1k

Recipe on ImageNet (paper, implementation details): projector 3 layers (2048, 2048, 256) with BN, predictor
Linear(4096)-BN-ReLU-Linear(256), support set (FIFO queue) of 98,304, temperature 0.1, batch 4096, 1000
epochs, 10 warm-up epochs then cosine, LARS (trust coefficient 0.001), BYOL's asymmetric views. The
optimiser's numbers (lr 0.3 x batch / 256, weight decay 1e-6) are unverified here against the paper's text.
On CIFAR, STL-10 and Fashion-MNIST: solo-learn's CIFAR recipe (scripts/pretrain/cifar/nnclr.yaml): LARS with
trust coefficient 0.02, lr 0.4 x batch / 256, weight decay 1e-5, batch 256, temperature 0.2, queue 65,536, the
asymmetric views with crops from 8 % (solo-learn drops the blur on 32 px images; the byol preset keeps it).
Anchors to reproduce against: CIFAR-10 ResNet-18, 1000 epochs, online linear top-1 91.88 % (CIFAR-100:
69.62 %) (solo-learn README, results tables); ImageNet ResNet-50, linear top-1 75.6 % (paper, abstract; the
epoch count of that number, 1000, and table 1's value are unverified here).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=1000, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "cifar10": (91.88, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "cifar100": (69.62, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "imagenet2012": (75.6, "linear_sgd", "paper abstract, ResNet-50"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="nnclr",
        projector_hidden_dims=(2048, 2048),
        projection_dim=256,
        predictor_hidden_dims=(4096,),
        queue_size=98304 if large else 65536,
        temperature=0.1 if large else 0.2,
    )
    config.augment = dict(preset="byol", min_crop_scale=0.08)
    config.optim = dict(
        name="lars",
        base_lr=0.3 if large else 0.4,
        lr_scaling="linear",
        weight_decay=1e-6 if large else 1e-5,
        momentum=0.9,
        trust_coefficient=0.001 if large else 0.02,
        probe_lr=1e-3,
    )
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(
            projector_hidden_dims=(32, 32), projection_dim=16, predictor_hidden_dims=(32,), queue_size=64
        )
    return common.lock(config)
