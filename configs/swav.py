r"""SwAV (Caron, Misra, Mairal, Goyal, Bojanowski and Joulin 2020, "Unsupervised Learning of Visual Features
by Contrasting Cluster Assignments").

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/swav.py:dataset=cifar10 --workdir=runs/swav_cifar10
  python -m jaxssl.main --config=configs/swav.py:dataset=imagenet2012,backbone=resnet50,batch=4096,epochs=800 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/swav_in1k

Recipe on ImageNet (paper, section 4 and appendix A; facebookresearch/swav scripts/swav_800ep_pretrain.sh):
LARS (trust coefficient 0.001), lr = 0.3 x batch / 256 (4.8 at batch 4096), weight decay 1e-6, 10 warm-up
epochs then cosine (the script warms up from 0.3 and ends at 0.0048, here from and to 0), 800 epochs;
projector Linear(2048)-BN-ReLU-Linear(128), 3000 prototypes frozen during the first epoch (313 steps at batch
4096), temperature 0.1, Sinkhorn with epsilon 0.05 and 3 iterations; no queue at batch 4096 (at batch 256 the
paper adds a queue of 3840 from epoch 15); multi-crop 2 x 224 (area 14-100 %) + 6 x 96 (5-14 %), SimCLR's
colour distortion of strength 1 and blur 0.5. On STL-10's 96 px images the same crops at 2 x 96 + 6 x 48.
On CIFAR and Fashion-MNIST: solo-learn's CIFAR recipe (scripts/pretrain/cifar/swav.yaml,
augmentations/symmetric.yaml): two 32 px crops from 8 % of the area (multi-crop off: set
--config.augment.num_small=4 for 4 x 16 px), LARS with trust coefficient 0.02, lr 0.6 x batch / 256, weight
decay 1e-6, batch 256, queue 3840 from epoch 50, prototypes frozen for 2 epochs.
Anchors to reproduce against: CIFAR-10 ResNet-18, 1000 epochs, online linear top-1 89.17 % (CIFAR-100:
64.88 %) (solo-learn README, results tables); ImageNet ResNet-50, 800 epochs, 2 x 224 + 6 x 96, batch 4096,
linear top-1 75.3 % (paper, table 1; facebookresearch/swav README: 400 epochs 74.6 %, 200 epochs 73.9 %, 100
epochs 72.1 %).
"""

from configs import common

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=1000, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "cifar10": (89.17, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "cifar100": (64.88, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "imagenet2012": (75.3, "linear_sgd", "paper table 1, ResNet-50, 800 epochs, 2x224 + 6x96"),
}


def views(image_size: int) -> dict:
    """SwAV's multi-crop block for images of side `image_size` (also DeepCluster-v2's): 2 global crops of the
    full side and 6 small ones (96 px from 224 px and larger, half the side on STL-10); on 28-32 px images the
    two global crops only (solo-learn's CIFAR recipe), with the small side ready for augment.num_small."""
    multi_crop = image_size >= 96
    return dict(
        preset="multicrop",
        small_size=96 if image_size >= 224 else image_size // 2,
        num_small=6 if multi_crop else 0,
        crop_scale=(0.14, 1.0) if multi_crop else (0.08, 1.0),
        small_crop_scale=(0.05, 0.14),
        style="simclr",
        jitter_strength=1.0,
        blur_prob=0.5,
    )


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="swav",
        projector_hidden_dims=(2048,),
        projection_dim=128,
        num_prototypes=3000,
        temperature=0.1,
        epsilon=0.05,
        sinkhorn_iterations=3,
        freeze_prototypes_epochs=1.0 if large else 2.0,
        queue_length=0 if large else 3840,
        queue_start_epochs=15.0 if large else 50.0,
    )
    config.augment = views(config.data.image_size)
    config.optim = dict(
        name="lars",
        base_lr=0.3 if large else 0.6,
        lr_scaling="linear",
        weight_decay=1e-6,
        momentum=0.9,
        trust_coefficient=0.001 if large else 0.02,
        probe_lr=1e-3,
    )
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(
            projector_hidden_dims=(32,),
            projection_dim=16,
            num_prototypes=16,
            freeze_prototypes_epochs=0.0,
            queue_length=32,
            queue_start_epochs=0.0,
        )
        config.augment.update(small_size=8, num_small=2)
    return common.lock(config)
