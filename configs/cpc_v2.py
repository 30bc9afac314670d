r"""CPC v2 (Hénaff, Srinivas, De Fauw, Razavi, Doersch, Eslami and van den Oord 2020, "Data-Efficient Image
Recognition with Contrastive Predictive Coding").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/cpc_v2.py:dataset=cifar10 --workdir=runs/cpc_v2_cifar10
  python -m jaxssl.main --config=configs/cpc_v2.py:dataset=imagenet2012,backbone=resnet50,batch=512,epochs=200 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/cpc_v2_in1k

Recipe (paper, section 4.1 and appendix; the settings as we recall them, not re-checked against the PDF
here): a 7 x 7 grid of overlapping patches (64 px every 32 px of a 256 px crop; here 56 every 28 of our
224 px views), each patch augmented on its own, a ResNet with LayerNorm instead of BatchNorm as the patch
encoder (config.model.norm = "layer", set here for every ResNet), a PixelCNN-style masked context network
(12 residual blocks in the paper; 4 here), linear predictions of the patch vectors up to several rows below
(3 offsets here), InfoNCE against every other patch of the batch. Adam in the paper; here AdamW, lr 2e-4 x
batch / 256 (our choice), a cosine. Small images: 8 px patches every 4 px (6 x 6 on 28 px, 7 x 7 on 32 px),
2 offsets, a context network of width 64 and depth 2 (our choice).
Anchors to reproduce against (as we recall them): ImageNet linear top-1 63.8 % with a ResNet-50 and 71.5 %
with the paper's ResNet-161 (paper, table 1).
"""

from configs import common
from jaxssl import catalog

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=200, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (63.8, "linear_sgd", "paper table 1, ResNet-50 with LayerNorm"),
}


def layer_norm(config) -> None:
    """CPC v2's patch encoder: a ResNet's BatchNorms become LayerNorms."""
    if catalog.family_of(config.model.backbone) == "resnet":
        config.model.norm = "layer"


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="cpc_v2",
        patch=56 if large else 8,
        stride=28 if large else 4,
        num_offsets=3 if large else 2,
        context_width=256 if large else 64,
        context_depth=4 if large else 2,
        flip_prob=0.5,
        colors="drop",
    )
    config.augment = dict(preset="crop_flip", min_crop_scale=0.5)
    config.optim = dict(
        name="adamw", base_lr=2e-4, lr_scaling="linear", weight_decay=0.0, b1=0.9, b2=0.999, probe_lr=1e-3
    )
    config.train.warmup_epochs = 0.0
    common.pretext_eval(config)
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(num_offsets=1, context_width=16, context_depth=1)
    layer_norm(config)
    return common.lock(config)
