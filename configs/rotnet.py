r"""RotNet (Gidaris, Singh and Komodakis 2018, "Unsupervised Representation Learning by Predicting Image
Rotations").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/rotnet.py:dataset=cifar10 --workdir=runs/rotnet_cifar10
  python -m jaxssl.main --config=configs/rotnet.py:dataset=imagenet2012,backbone=alexnet,batch=192,epochs=30 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/rotnet_in1k

Recipe (paper, section 3): all four rotations of every image in one batch (so 4 x batch rows per step),
4-way cross-entropy; SGD with Nesterov momentum 0.9, weight decay 5e-4, lr 0.1 at batch 128 on CIFAR-10 (100
epochs; the paper divides the lr by 5 after 30, 60 and 80) and 0.01 at batch 192 on ImageNet with AlexNet
(30 epochs, divided by 10 twice); here the same peak lr decays with a cosine, without warm-up. Views: random
crops and flips only (the crop_flip preset; crops keep at least half the image).
Anchors to reproduce against (quoted as we know them, not re-checked against the PDF here): ImageNet
AlexNet, linear probes per layer conv1-conv5 18.8 / 31.7 / 38.7 / 38.2 / 36.5 % (paper, the ImageNet
per-layer linear table; our linear_sgd probe reads the backbone's output, fc7 on the ImageNet AlexNet, not
conv5: compare the per-layer probe); CIFAR-10 with a 4-block NIN, a non-linear classifier on block 2 89.06 %
(paper, table 1; no protocol of ours matches it, so no anchor is set for CIFAR-10).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=100, batch=128, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (36.5, "linear_sgd", "paper, ImageNet per-layer linear table, AlexNet conv5"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(name="rotnet", head_hidden_dims=())
    config.augment = dict(preset="crop_flip", min_crop_scale=0.5)
    config.optim = dict(
        name="sgd",
        base_lr=0.01 * 256 / 192 if large else 0.1 * 256 / 128,
        lr_scaling="linear",
        weight_decay=5e-4,
        momentum=0.9,
        nesterov=True,
        probe_lr=1e-3,
    )
    config.train.warmup_epochs = 0.0
    common.pretext_eval(config)
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
    return common.lock(config)
