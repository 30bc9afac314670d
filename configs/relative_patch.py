r"""Relative patch position (Doersch, Gupta and Efros 2015, "Unsupervised Visual Representation Learning by
Context Prediction").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/relative_patch.py:dataset=cifar10 --workdir=runs/relative_patch_cifar10
  python -m jaxssl.main --config=configs/relative_patch.py:dataset=imagenet2012,backbone=alexnet,batch=256 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/relative_patch_in1k

Recipe (paper, section 3 and 4): the centre patch of a 3 x 3 grid and one of its 8 neighbours, 96 px patches
with a 48 px gap and up to 7 px of jitter (patches fill 2/3 of their cell), colour dropping or projection
against chromatic aberration (section 3.1; colour dropping here, the "drop" defence), a shared trunk on each
patch, the two fc6 outputs concatenated, fc7 4096 and an 8-way fc8. The paper trains with SGD in Caffe for
weeks; here SGD, lr 0.01 x batch / 256, weight decay 5e-4, momentum 0.9, cosine, 100 epochs (our choice). On
the small datasets the same proportions, a 1024-unit hidden layer (our choice).
Anchors to reproduce against: ImageNet AlexNet, linear probes per layer conv1-conv5 16.2 / 23.3 / 30.2 /
31.7 / 29.6 % (Zhang et al. 2017, "Split-Brain Autoencoders", and Gidaris et al. 2018 quote them; not
re-checked against the PDFs here; our linear_sgd probe reads fc7 of the ImageNet AlexNet, not conv5: compare
the per-layer probe).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=100, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (29.6, "linear_sgd", "Zhang et al. 2017, AlexNet conv5 linear probe"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="relative_patch",
        colors="drop",
        head_hidden_dims=(4096,) if large else (1024,),
        **common.tile_layout(config.data.image_size, grid=3, fill=2 / 3, max_jitter=7),
    )
    config.augment = dict(preset="crop_flip", min_crop_scale=0.5)
    config.optim = dict(
        name="sgd",
        base_lr=0.01,
        lr_scaling="linear",
        weight_decay=5e-4,
        momentum=0.9,
        nesterov=False,
        probe_lr=1e-3,
    )
    config.train.warmup_epochs = 0.0
    common.pretext_eval(config)
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(head_hidden_dims=(32,), **common.tile_layout(16, 3, 2 / 3, 7))
    return common.lock(config)
