r"""Jigsaw (Noroozi and Favaro 2016, "Unsupervised Learning of Visual Representations by Solving Jigsaw
Puzzles").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/jigsaw.py:dataset=cifar10 --workdir=runs/jigsaw_cifar10
  python -m jaxssl.main --config=configs/jigsaw.py:dataset=imagenet2012,backbone=alexnet,batch=256,epochs=70 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/jigsaw_in1k

Recipe (paper, section 3 and 4): a 3 x 3 grid of cells on the crop (75 px cells of a 225 px crop on
ImageNet), a 64 px tile cut at a random place in each cell (the gap and jitter, against edge continuity),
each tile standardised on its own (against low-level statistics), colour and grayscale images (against
chromatic aberration: gray_prob, our choice of share); 1000 permutations of maximal Hamming distance (section
4.2, table 3: more and farther-apart permutations transfer better); a shared trunk per tile, the 9 features
concatenated, fc7 4096 and a 1000-way fc8. SGD, lr 0.01 at batch 256, 350k iterations (about 70 epochs), as
Caffe step decays in the paper; here the same peak lr with a cosine, no warm-up. On the small datasets the
tiles fill 85 % of their cell as 64 of 75 px do, 100 permutations and a 1024-unit hidden layer (our choice).
Anchors to reproduce against: ImageNet AlexNet, linear probes per layer conv1-conv5 18.2 / 28.8 / 34.0 /
33.9 / 27.1 % (Zhang et al. 2017, "Split-Brain Autoencoders", and Gidaris et al. 2018 quote them; not
re-checked against the PDFs here; our linear_sgd probe reads fc7 of the ImageNet AlexNet, not conv5: compare
the per-layer probe); PASCAL VOC 2007 classification 67.6 % (paper,
table 1; no VOC protocol here).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=70, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (27.1, "linear_sgd", "Zhang et al. 2017, AlexNet conv5 linear probe"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="jigsaw",
        num_permutations=1000 if large else 100,
        min_distance=2,
        grid=3,
        gray_prob=0.3,
        head_hidden_dims=(4096,) if large else (1024,),
        **common.tile_layout(config.data.image_size, grid=3, fill=64 / 75),
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
        config.method.update(
            num_permutations=24, head_hidden_dims=(32,), **common.tile_layout(16, 3, 64 / 75)
        )
    return common.lock(config)
