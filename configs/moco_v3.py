r"""MoCo v3 (Chen, Xie and He 2021, "An Empirical Study of Training Self-Supervised Vision Transformers").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/moco_v3.py:dataset=cifar10 --workdir=runs/moco_v3_cifar10
  python -m jaxssl.main --config=configs/moco_v3.py:dataset=imagenet2012,backbone=resnet50,batch=4096,epochs=1000 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/moco_v3_in1k
  python -m jaxssl.main --config=configs/moco_v3.py:dataset=imagenet2012,backbone=vit_small,batch=4096,epochs=300 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/moco_v3_vit_small_in1k

Recipe on ImageNet (paper, appendix; the ResNet-50 1000-epoch setup of facebookresearch/moco-v3 CONFIG.md):
LARS (trust coefficient 0.001), lr = 0.3 x batch / 256, weight decay 1.5e-6, batch 4096, 10 warm-up epochs
then cosine; momentum encoder m from 0.996 to 1 by a cosine; temperature 1.0; BYOL's asymmetric views with
crops of at least 20 %. Heads as the reference code builds them for a ResNet: a 2-layer projector
Linear(4096)-BN-ReLU-Linear(256)-BN and a 2-layer predictor with hidden 4096 (the 3-layer projector is the
ViT's). For 300 epochs the reference keeps weight decay 1e-6 and m 0.99 (for 100 epochs also lr 0.6).
On CIFAR, STL-10 and Fashion-MNIST: solo-learn's CIFAR recipe (scripts/pretrain/cifar/mocov3.yaml): LARS with
trust coefficient 0.02, lr 0.3 x batch / 256, weight decay 1e-6, batch 256, temperature 0.2, m from 0.99, the
asymmetric views with crops from 8 % (solo-learn drops the blur on 32 px images; the byol preset keeps it).
Anchors to reproduce against: CIFAR-10 ResNet-18, 1000 epochs, online linear top-1 93.10 % (CIFAR-100:
68.83 %) (solo-learn README, results tables); ImageNet ResNet-50, 1000 epochs, linear top-1 74.6 % (300
epochs: 72.8 %, 100 epochs: 68.9 %) (facebookresearch/moco-v3 CONFIG.md; the paper's own ResNet-50 table:
unverified).
With a ViT backbone (backbone=vit_*; paper, section 4 and appendix; CONFIG.md's ViT-S/ViT-B 300-epoch runs):
AdamW, lr = 1.5e-4 x batch / 256, weight decay 0.1 (none on positions, cls token, norms, biases), batch 4096,
40 warm-up epochs then cosine, 300 epochs; m from 0.99 to 1 by a cosine; temperature 0.2; a 3-layer projector
(4096, 4096 -> 256) and the 2-layer predictor; fixed 2-D sin-cos positions; the patch projection frozen at its
random init (section 4.2); crops from 8 %. The paper's ViT-S has 12 heads where our vit_small (timm's, DeiT's)
has 6. Anchors: ImageNet linear top-1 73.2 % for ViT-S and 76.7 % for ViT-B, 300 epochs (CONFIG.md).
"""

from configs import common
from jaxssl import catalog

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=1000, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "cifar10": (93.1, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "cifar100": (68.83, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "imagenet2012": (74.6, "linear_sgd", "facebookresearch/moco-v3 CONFIG.md, ResNet-50, 1000 epochs"),
}
VIT_ANCHORS = {  # backbone on imagenet2012: (top-1 %, protocol, source), as quoted above
    "vit_small": (73.2, "linear_sgd", "facebookresearch/moco-v3 CONFIG.md, ViT-S, 300 epochs"),
    "vit_base": (76.7, "linear_sgd", "facebookresearch/moco-v3 CONFIG.md, ViT-B, 300 epochs"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="moco_v3",
        projector_hidden_dims=(4096,),
        projection_dim=256,
        predictor_hidden_dims=(4096,),
        temperature=1.0 if large else 0.2,
        base_momentum=0.996 if large else 0.99,
    )
    config.augment = dict(preset="byol", min_crop_scale=0.2 if large else 0.08)
    config.optim = dict(
        name="lars",
        base_lr=0.3,
        lr_scaling="linear",
        weight_decay=1.5e-6 if large else 1e-6,
        momentum=0.9,
        trust_coefficient=0.001 if large else 0.02,
        probe_lr=1e-3,
    )
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if catalog.family_of(options.backbone) == "vit":
        vit_recipe(config, options)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(projector_hidden_dims=(32,), projection_dim=16, predictor_hidden_dims=(32,))
        if catalog.family_of(options.backbone) == "vit":
            config.model.pos_embed = "sincos"
    return common.lock(config)


def vit_recipe(config, options) -> None:
    """The ViT settings quoted in the docstring, over the ResNet ones."""
    config.model.pos_embed = "sincos"
    config.method.update(
        projector_hidden_dims=(4096, 4096), temperature=0.2, base_momentum=0.99, freeze_patch_embedding=True
    )
    config.augment.min_crop_scale = 0.08
    config.optim = dict(
        name="adamw", base_lr=1.5e-4, lr_scaling="linear", weight_decay=0.1, b1=0.9, b2=0.999, probe_lr=1e-3
    )
    config.train.warmup_epochs = 40.0
    anchors = {"imagenet2012": VIT_ANCHORS[options.backbone]} if options.backbone in VIT_ANCHORS else {}
    config.anchor = common.anchor(options.dataset, anchors)
