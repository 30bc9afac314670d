r"""SimCLR v2 (Chen et al. 2020b, "Big Self-Supervised Models are Strong Semi-Supervised Learners"):
pretraining with a 3-layer projection head, then fine-tuning from the head's first layer; the fine-tuned
network's predictions teach a student (configs/simclr_v2_distill.py).

Options after the colon: dataset, backbone, epochs, batch, tiny, crop. Examples (pretraining, fine-tuning
on 1 % of the labels, which also keeps the fine-tuned classifier's predictions in DIR/finetuned/):

  python -m jaxssl.main --config=configs/simclr_v2.py:dataset=cifar10 --workdir=runs/simclr_v2_cifar10
  python -m jaxssl.main --mode=evaluate --workdir=runs/simclr_v2_cifar10 --protocol=finetune --label_fraction=0.01
  python -m jaxssl.main --config=configs/simclr_v2.py:dataset=imagenet2012,backbone=resnet50,batch=4096 \
      --config.data.manual_dir=/data/imagenet --workdir=runs/simclr_v2_in1k
  python -m jaxssl.main --mode=evaluate --workdir=runs/simclr_v2_in1k --protocol=finetune --label_fraction=0.1 \
      --config=configs/simclr_v2.py:dataset=imagenet2012,backbone=resnet50,batch=4096 \
      --config.data.manual_dir=/data/imagenet --config.finetune.epochs=30

Recipe (paper, section 2 and the ImageNet settings of section 3): the network is SimCLR's (the simclr
method) with a deeper head, Linear-BN-ReLU, Linear-BN-ReLU, Linear (2048, 2048 -> 128); LARS at lr 0.1 x
sqrt(batch) (6.4 at 4096), weight decay 1e-4, 800 epochs with a linear warm-up over the first 5 % of them
then cosine, temperature 0.1, SimCLR's ImageNet augmentation. Fine-tuning (config.finetune): from the first
layer of the head (head_layers=1; the paper fine-tunes from the head's input with all the labels,
--config.finetune.head_layers=0), LARS at lr 0.005 x sqrt(batch) (0.16 at batch 1024, the base_lr 0.04 of
jaxssl's linear scaling), no weight decay and no warm-up, crop and flip, 60 epochs at 1 % of the labels
(--config.finetune.epochs=30 at 10 % and 100 %). Not here: the paper's MoCo-style memory of 65,536 negatives
from an EMA encoder (about 1 point of linear and of 1 %-label fine-tuned top-1 by its account), its selective
kernels and ResNet widths beyond the backbones' own, and the BatchNorm on the head's output layer of its
released code. The
small datasets, which the paper does not train, keep SimCLR's CIFAR recipe (configs/simclr.py) with the
deeper head, fine-tuned from its first layer by the common recipe (SGD, 30 epochs).
Anchors to reproduce against (paper table 1, ResNet-50 1x without selective kernels): linear top-1 71.7 %;
fine-tuned from the head's first layer, top-1 57.9 % at 1 % and 68.4 % at 10 % of the labels.
"""

from configs import common, simclr
from jaxssl import catalog

DEFAULTS = dict(dataset="cifar10", backbone="resnet18", epochs=800, batch=512, tiny=False)
ANCHORS = {  # dataset: (top-1 %, protocol, source), as quoted above
    "imagenet2012": (71.7, "linear_sgd", "paper table 1, ResNet-50 (1x), no selective kernels"),
}
HEAD_LAYERS = 1  # the paper's fine-tuning start: the first layer of the projection head


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    config = common.base_config(options)
    large = options.dataset == "imagenet2012"
    config.method = dict(
        name="simclr",
        projector_hidden_dims=(2048, 2048),
        projection_dim=128,
        temperature=0.1 if large else 0.5,
    )
    config.augment = dict(
        preset="simclr",
        jitter_strength=1.0 if large else 0.5,
        blur_prob=0.5 if large else 0.0,
        min_crop_scale=0.08,
    )
    config.optim = dict(
        name="lars",
        base_lr=0.1 if large else 1.0,
        lr_scaling="sqrt" if large else "linear",
        weight_decay=1e-4 if large else 1e-6,
        momentum=0.9,
        trust_coefficient=0.001,
        probe_lr=1e-3,
    )
    config.name = "simclr_v2"  # the simclr method with SimCLR v2's head: its rows in the report
    config.finetune.head_layers = HEAD_LAYERS
    config.eval.finetune_predictions = True
    if large:
        config.train.warmup_epochs = 0.05 * options.epochs
        config.finetune.update(
            epochs=60.0, batch_size=1024, base_lr=0.04, optimizer="lars", weight_decay=0.0, warmup_epochs=0.0
        )
    config.anchor = common.anchor(options.dataset, ANCHORS)
    if catalog.family_of(options.backbone) == "vit":
        simclr.vit_recipe(config)
    if options.tiny:
        common.make_tiny(config)
        config.method.update(projector_hidden_dims=(32, 32), projection_dim=16)
    return common.lock(config)
