r"""SimMIM (Xie, Zhang, Cao, Lin, Bao, Yao, Dai and Hu 2022, "SimMIM: A Simple Framework for Masked Image
Modeling").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/simmim.py:dataset=imagenet2012,backbone=vit_base,batch=2048,epochs=800 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/simmim_in1k
  python -m jaxssl.main --config=configs/simmim.py:dataset=cifar10,backbone=vit_tiny,batch=512,epochs=800 \
      --workdir=runs/simmim_cifar10

Recipe on ImageNet (paper, section 4.1 and appendix, ViT-B): 192 px pre-training crops (12 x 12 tokens of
16 px) of 67-100 % of the area and flips, random masking of 32 px squares at ratio 0.6 with a learned mask
token, a one-layer linear head to the raw pixels, L1 loss on the masked pixels; AdamW with betas (0.9, 0.999),
lr 8e-4 x batch / 512 (= 4e-4 x batch / 256, as set here), weight decay 0.05, batch 2048, 10 warm-up
epochs then cosine, 800 epochs. Fine-tuning at 224 px: AdamW, lr 5e-3 x batch / 512, layer-wise lr decay
0.65, drop path 0.1, weight decay 0.05, 100 epochs with 20 warm-up (plus RandAugment, mixup, cutmix and
label smoothing, which our fine-tuning recipe does not have yet). Fine-tuning here runs at the pre-training
size, the position embeddings stored for it.
Anchor to reproduce against: ImageNet ViT-B/16, 800 epochs, fine-tuned top-1 83.8 % (paper, table 1).
On CIFAR-10 and Fashion-MNIST (our choice): 4 px model patches, 8 px mask squares, ratio 0.6, batch 512.
"""

from configs import common

DEFAULTS = dict(dataset="imagenet2012", backbone="vit_base", epochs=800, batch=2048, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (83.8, "finetune", "paper table 1, ViT-B/16, 800 epochs"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    if large:
        config.data.image_size = 192
    config.model = common.model_block(options.backbone, options.dataset, config.data.image_size)
    config.method = dict(name="simmim", mask_ratio=0.6, mask_patch_size=32 if large else 8)
    config.augment = dict(preset="masked", min_crop_scale=0.67)
    config.optim = dict(
        name="adamw",
        base_lr=4e-4,
        lr_scaling="linear",
        weight_decay=0.05,
        b1=0.9,
        b2=0.999,
        probe_lr=1e-3,
    )
    config.train.warmup_epochs = 10.0
    config.finetune.update(
        optimizer="adamw",
        base_lr=2.5e-3,
        batch_size=2048 if large else 256,
        weight_decay=0.05,
        epochs=100.0,
        warmup_epochs=20.0,
        layer_decay=0.65,
        drop_path=0.1,
    )
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(mask_patch_size=8)
        config.finetune.update(batch_size=16, epochs=1.0, warmup_epochs=0.0)
    return common.lock(config)
