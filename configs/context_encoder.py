r"""Context encoder (Pathak, Krähenbühl, Donahue, Darrell and Efros 2016, "Context Encoders: Feature Learning
by Inpainting").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/context_encoder.py:dataset=cifar10 --workdir=runs/context_encoder_cifar10
  python -m jaxssl.main --config=configs/context_encoder.py:dataset=imagenet2012,backbone=alexnet,batch=64 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/context_encoder_in1k

Recipe (paper, section 3 and 4): the central half of the image side dropped (64 of 128 px; "random block"
placement is region=random), filled with the mean colour, an encoder (AlexNet in the paper; the chosen
backbone here) and up-convolutions back to the image, the squared error inside the region; the adversarial
term weighted 0.001 in the paper, off here by default (--config.method.adversarial_weight=0.001 turns it
on); Adam, lr 2e-4, beta1 0.5, as DCGAN (the paper's solver; our decoder is a plain resize-conv stack and our
schedule a cosine). On the small datasets the same proportions.
Anchors to reproduce against (quoted as we know them, not re-checked against the PDFs here): ImageNet
AlexNet, linear probes per layer conv1-conv5 14.1 / 20.7 / 21.0 / 19.8 / 15.5 % (Zhang et al. 2017,
"Split-Brain Autoencoders"; our linear_sgd probe reads fc7 of the ImageNet AlexNet, not conv5: compare the
per-layer probe).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=100, batch=128, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (15.5, "linear_sgd", "Zhang et al. 2017, AlexNet conv5 linear probe"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    config.method = dict(
        name="context_encoder",
        region="center",
        region_fraction=0.5,
        decoder_width=128,
        adversarial_weight=0.0,
    )
    config.augment = dict(preset="crop_flip", min_crop_scale=0.5)
    config.optim = dict(
        name="adamw", base_lr=2e-4, lr_scaling="none", weight_decay=0.0, b1=0.5, b2=0.999, probe_lr=1e-3
    )
    config.train.warmup_epochs = 0.0
    common.pretext_eval(config)
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.decoder_width = 16
    return common.lock(config)
