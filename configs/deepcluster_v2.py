r"""DeepCluster-v2 (Caron, Misra, Mairal, Goyal, Bojanowski and Joulin 2020, "Unsupervised Learning of Visual
Features by Contrasting Cluster Assignments", appendix A.2 / section 4: DeepCluster with SwAV's improvements).

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples:

  python -m jaxssl.main --config=configs/deepcluster_v2.py:dataset=cifar10 --workdir=runs/dcv2_cifar10
  python -m jaxssl.main \
      --config=configs/deepcluster_v2.py:dataset=imagenet2012,backbone=resnet50,batch=4096,epochs=800 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/dcv2_in1k

Recipe on ImageNet (facebookresearch/swav scripts/deepclusterv2_800ep_pretrain.sh): LARS (trust coefficient
0.001), lr = 0.3 x batch / 256 (4.8 at batch 4096), weight decay 1e-6, 10 warm-up epochs then cosine, 800
epochs; projector Linear(2048)-BN-ReLU-Linear(128); three k-means clusterings of 3000 centroids each over a
memory of the previous epoch's embeddings (10 Lloyd iterations), temperature 0.1; SwAV's multi-crop 2 x 224 +
6 x 96 with SimCLR's colour distortion and blur (see configs/swav.py, whose `views` this config shares).
On CIFAR, STL-10 and Fashion-MNIST: solo-learn's CIFAR recipe (scripts/pretrain/cifar/deepclusterv2.yaml): two
crops of 32 px (multi-crop off), LARS with trust coefficient 0.02, lr 0.6 x batch / 256, weight decay 1e-6,
batch 256, 11 warm-up epochs (solo-learn also ends the cosine at 0.0006, here at 0).
Anchors to reproduce against: CIFAR-10 ResNet-18, 1000 epochs, online linear top-1 88.85 % (CIFAR-100:
63.61 %) (solo-learn README, results tables); ImageNet ResNet-50, 800 epochs, 2 x 224 + 6 x 96, batch 4096,
linear top-1 75.2 % (facebookresearch/swav README; the SwAV paper's table: unverified).
"""

from configs import common, swav

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=1000, batch=256, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "cifar10": (88.85, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "cifar100": (63.61, "online_probe", "solo-learn README, ResNet-18, 1000 epochs"),
    "imagenet2012": (75.2, "linear_sgd", "facebookresearch/swav README, ResNet-50, 800 epochs"),
}


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="deepcluster_v2",
        projector_hidden_dims=(2048,),
        projection_dim=128,
        num_prototypes=(3000, 3000, 3000),
        temperature=0.1,
        kmeans_iterations=10,
    )
    config.augment = swav.views(config.data.image_size)
    config.optim = dict(
        name="lars",
        base_lr=0.3 if large else 0.6,
        lr_scaling="linear",
        weight_decay=1e-6,
        momentum=0.9,
        trust_coefficient=0.001 if large else 0.02,
        probe_lr=1e-3,
    )
    config.train.warmup_epochs = 10.0 if large else 11.0
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(
            projector_hidden_dims=(32,), projection_dim=16, num_prototypes=(8, 8), kmeans_iterations=2
        )
        config.augment.update(small_size=8, num_small=2)
    return common.lock(config)
