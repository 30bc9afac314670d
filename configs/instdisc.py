r"""Instance discrimination, InstDisc (Wu, Xiong, Yu and Lin 2018, "Unsupervised Feature Learning via
Non-Parametric Instance Discrimination").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/instdisc.py:dataset=cifar10 --workdir=runs/instdisc_cifar10
  python -m jaxssl.main --config=configs/instdisc.py:dataset=imagenet2012,backbone=resnet50,batch=256 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/instdisc_in1k

Recipe on ImageNet (paper, sections 3-4; zhirongw/lemniscate.pytorch main.py and README): a linear 128-d
embedding, L2-normalised, classified against a memory bank of every training example's embedding (updated with
momentum 0.5), NCE with 4096 noise samples and temperature 0.07; SGD, momentum 0.9, lr = 0.03 x batch / 256,
weight decay 1e-4, batch 256, 200 epochs (the code divides the lr by 10 at epochs 120 and 160; here a cosine,
no warm-up); one view: crops from 20 %, colour jitter 0.4 on all four factors, grayscale 0.2, flip.
On CIFAR, STL-10 and Fashion-MNIST: the released CIFAR script (lemniscate.pytorch cifar.py): SGD lr 0.1 at
batch 128 (0.2 x batch / 256), weight decay 5e-4, temperature 0.1, 4096 noise samples, 200 epochs (the script
keeps the lr constant and does not flip; here a cosine and the preset's flip).
Anchors to reproduce against: solo-learn has no InstDisc results, and the paper's CIFAR-10 ResNet-18 numbers
(table 1) are unverified here; ImageNet ResNet-50, 200 epochs, linear top-1 54.0 % on res5 features (paper,
table 2: unverified here; the lemniscate.pytorch README gives the released ResNet-50 a top-1 of 46.8 %, by its
k-NN monitor).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=200, batch=128, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (54.0, "linear_sgd", "paper table 2, ResNet-50, 200 epochs, res5 (unverified here)"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="instdisc",
        projection_dim=128,
        temperature=0.07 if large else 0.1,
        memory_momentum=0.5,
        num_negatives=4096,
    )
    config.augment = dict(preset="instdisc", min_crop_scale=0.2)
    config.optim = dict(
        name="sgd",
        base_lr=0.03 if large else 0.2,
        lr_scaling="linear",
        weight_decay=1e-4 if large else 5e-4,
        momentum=0.9,
        probe_lr=1e-3,
    )
    config.train.warmup_epochs = 0.0
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(projection_dim=16, num_negatives=16)
    return common.lock(config)
