r"""Colorization (Zhang, Isola and Efros 2016, "Colorful Image Colorization").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples (RGB datasets only: a
grayscale one, such as Fashion-MNIST, is refused when the run is prepared):

  python -m jaxssl.main --config=configs/colorization.py:dataset=cifar10 --workdir=runs/colorization_cifar10
  python -m jaxssl.main --config=configs/colorization.py:dataset=imagenet2012,backbone=alexnet,batch=40 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/colorization_in1k

Recipe (paper, section 2 and 3; the solver settings as we recall them, not re-checked against the released
code): L in, ab out as a distribution over the in-gamut cells of a grid of 10 (our set: augment.pretext.ab_bins),
soft-encoded targets (5 neighbours, sigma 5), class rebalancing with lambda 0.5, the annealed mean at T 0.38
for pictures; Adam (beta2 0.99, weight decay 1e-3), lr 3e-5 at batch 40, 450k iterations (about 14 epochs of
ImageNet) with step decays; here AdamW with the same betas and a cosine. The paper's network is a VGG-style
stack with dilated convolutions predicting at a quarter of the resolution; ours is the chosen backbone with a
1 x 1 head on its last feature map (4 x 4 on CIFAR-10's ResNets), so the colours are coarse. Views: crops and
flips only.
Anchors to reproduce against (quoted as we know them, not re-checked against the PDFs here): ImageNet
AlexNet, linear probes per layer conv1-conv5 12.5 / 24.5 / 30.4 / 31.5 / 30.3 % (Zhang et al. 2017,
"Split-Brain Autoencoders"; our linear_sgd probe reads fc7 of the ImageNet AlexNet, not conv5: compare the
per-layer probe).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=100, batch=128, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (30.3, "linear_sgd", "Zhang et al. 2017, AlexNet conv5 linear probe"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    config.method = dict(
        name="colorization", neighbours=5, sigma=5.0, rebalance_mix=0.5, prior_momentum=0.99, temperature=0.38
    )
    config.augment = dict(preset="crop_flip", min_crop_scale=0.5)
    config.optim = dict(
        name="adamw",
        base_lr=3e-5 * 256 / 40,
        lr_scaling="linear",
        weight_decay=1e-3,
        b1=0.9,
        b2=0.99,
        probe_lr=1e-3,
    )
    config.train.warmup_epochs = 0.0
    common.pretext_eval(config)
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
    return common.lock(config)
