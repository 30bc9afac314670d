r"""MAE (He, Chen, Xie, Li, Dollar and Girshick 2022, "Masked Autoencoders Are Scalable Vision Learners").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/mae.py:dataset=imagenet2012,backbone=vit_base,batch=4096,epochs=800 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/mae_in1k
  python -m jaxssl.main --config=configs/mae.py:dataset=cifar10,backbone=vit_tiny,batch=512,epochs=800 \
      --workdir=runs/mae_cifar10

Recipe on ImageNet (paper, appendix A.1, table 8): ViT-B/16 encoder with fixed 2-D sin-cos positions, mask
ratio 0.75, decoder 512-d with 8 blocks of 16 heads, per-patch normalised pixel targets; AdamW with betas
(0.9, 0.95), lr = 1.5e-4 x batch / 256, weight decay 0.05 (none on positions, tokens, norms, biases), batch
4096, 40 warm-up epochs then cosine, 800 epochs (1600 for the best numbers), random resized crops of 20-100 %
and flips only. Linear probe (appendix A.2): LARS, lr 0.1 x batch / 256, batch 16384, 90 epochs with 10
warm-up, no weight decay, a BatchNorm without affine before the linear head (our probe's head). Fine-tuning
(appendix A.3, table 9): AdamW, lr 5e-4 x batch / 256 (batch 1024), weight decay 0.05, layer-wise lr decay
0.65, drop path 0.1, 100 epochs with 5 warm-up (the paper also uses RandAugment, mixup, cutmix and label
smoothing, which our fine-tuning recipe does not have yet: expect a lower number).
Anchors to reproduce against: ImageNet ViT-B/16, 1600 epochs, fine-tuned top-1 83.6 % and linear probe
68.0 % (paper, table 1 and section 4.3 / table 3).
On CIFAR-10 and Fashion-MNIST (no published MAE recipe; our choice, sized for small images): ViT with 4 px
patches (8 x 8 and 7 x 7 tokens), a 128-d decoder of 2 blocks and 4 heads, the same optimiser, batch 512.
"""

from configs import common

DEFAULTS = dict(dataset="imagenet2012", backbone="vit_base", epochs=800, batch=4096, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (83.6, "finetune", "paper table 3, ViT-B/16, 1600 epochs; linear probe 68.0"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.model.pos_embed = "sincos"
    config.method = dict(
        name="mae",
        mask_ratio=0.75,
        decoder_dim=512 if large else 128,
        decoder_depth=8 if large else 2,
        decoder_heads=16 if large else 4,
        norm_pix_loss=True,
    )
    config.augment = dict(preset="masked", min_crop_scale=0.2)
    config.optim = dict(
        name="adamw",
        base_lr=1.5e-4,
        lr_scaling="linear",
        weight_decay=0.05,
        b1=0.9,
        b2=0.95,
        probe_lr=1e-3,
    )
    config.train.warmup_epochs = 40.0
    config.linear_sgd.update(
        optimizer="lars", base_lr=0.1, batch_size=16384 if large else 256, epochs=90.0, warmup_epochs=10.0
    )
    config.finetune.update(
        optimizer="adamw",
        base_lr=5e-4,
        batch_size=1024 if large else 256,
        weight_decay=0.05,
        b2=0.999,
        epochs=100.0,
        warmup_epochs=5.0,
        layer_decay=0.65,
        drop_path=0.1,
    )
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.model.pos_embed = "sincos"
        config.method.update(decoder_dim=16, decoder_depth=1, decoder_heads=2)
        config.linear_sgd.update(batch_size=16)
        config.finetune.update(batch_size=16, epochs=1.0, warmup_epochs=0.0)
    return common.lock(config)
