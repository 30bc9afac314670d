r"""SimCLR v2's distillation (Chen et al. 2020b, "Big Self-Supervised Models are Strong Semi-Supervised
Learners", section 2, eq. (2) and (3)): a student learns a fine-tuned teacher's tempered class distribution
on every training example, the labels reaching it through the teacher only (the distill method).

Options after the colon: the semi-supervised ones (dataset, backbone, labels, label_fraction, steps,
labelled_batch, mu, tiny, crop; configs/fixmatch.py), `teacher`, `temperature` (0.1, the paper's for
self-distillation; 1.0 from a larger teacher) and `labelled_weight` (1 - alpha of eq. (3): the labelled rows'
cross-entropy beside the distillation; 0, the paper's default, is eq. (2) alone). `teacher` (or
--config.teacher.workdir) is the file of predictions that --protocol=finetune keeps of a SimCLR v2 run
(configs/simclr_v2.py: DIR/finetuned/labels<fraction>.npz), or the directory of any run with its own
classifier (a distilled student, to distil again into a smaller one). Self-distillation, the student the
teacher's backbone:

  python -m jaxssl.main --config=configs/simclr_v2.py:dataset=cifar10 --workdir=runs/simclr_v2_c10
  python -m jaxssl.main --mode=evaluate --workdir=runs/simclr_v2_c10 --protocol=finetune --label_fraction=0.01
  python -m jaxssl.main --config=configs/simclr_v2_distill.py:dataset=cifar10,label_fraction=0.01,backbone=resnet18 \
      --config.teacher.workdir=runs/simclr_v2_c10/finetuned/labels0.01.npz --workdir=runs/simclr_v2_distill_c10
  python -m jaxssl.main --mode=evaluate --workdir=runs/simclr_v2_distill_c10 --protocol=classifier
  python -m jaxssl.main --config=configs/simclr_v2_distill.py:dataset=imagenet2012,labelled_batch=512 \
      --config.teacher.workdir=runs/simclr_v2_in1k/finetuned/labels0.1.npz \
      --config.data.manual_dir=/data/imagenet --workdir=runs/simclr_v2_distill_in1k

Recipe (paper, section 3): the teacher is fixed and predicts once, on the centre view of every training
example (jaxssl/teacher.py keeps its predictions in the student's DIR/pseudo_labels.npz: a resumed student is
bit-exact); the student, a backbone and a linear classifier (self-distillation: the teacher's network without
its projection head layers), sees random crops and flips and trains from a random initialisation
(--config.init.workdir=DIR starts its backbone from a run's). Each batch is B_l labelled rows (used with
labelled_weight > 0) and mu B_l rows walking the whole training split. On ImageNet, the paper's: the
pretraining's LARS at lr 0.1 x sqrt(batch), weight decay 1e-4, 5 % warm-up then cosine, batch 4096
(labelled_batch=512, mu 7), 400 epochs of the teacher's rows (142,988 steps), crops of 8-100 % of the area.
On the other datasets the semi-supervised methods' budget, so that the rows compare with theirs: FixMatch's
benchmark optimiser, network, batch (B_l 64, mu 7) and steps (900 on Fashion-MNIST), one weak view (flip
and a 12.5 % translation). No ImageNet anchor is quoted: the paper's distilled ResNet-50 numbers (73.9 % and
77.5 % top-1 at 1 % and 10 % of the labels) learn from a ResNet-152 (3x, selective kernels) teacher, which
jaxssl does not build.
"""

import math

from configs import common, semisup
from jaxssl import catalog

DEFAULTS = dict(semisup.SEMISUP_DEFAULTS, teacher="", temperature=0.1, labelled_weight=0.0)
IMAGENET_EPOCHS = 400  # of the teacher's rows, the paper's distillation
IMAGENET_EXAMPLES = catalog.PUBLISHED_DATASETS["imagenet2012"]["train_examples"]


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    large = options.dataset == "imagenet2012"
    if large and options.steps < 0:
        teacher_rows = max(options.mu, 1) * options.labelled_batch
        options.steps = math.ceil(IMAGENET_EPOCHS * IMAGENET_EXAMPLES / teacher_rows)
    options, config = semisup.semisup_config_of(options)
    config.method = dict(
        name="distill", temperature=options.temperature, labelled_weight=options.labelled_weight
    )
    config.name = "simclr_v2_distill"
    if large:
        config.augment = dict(preset="crop_flip", min_crop_scale=0.08)
        config.optim = dict(
            name="lars",
            base_lr=0.1,
            lr_scaling="sqrt",
            weight_decay=1e-4,
            momentum=0.9,
            trust_coefficient=0.001,
            probe_lr=1e-3,
        )
        config.train.warmup_epochs = 0.05 * config.train.steps * config.train.batch_size / IMAGENET_EXAMPLES
    else:
        config.augment = dict(preset="weak", translate=0.125, noise_std=0.0, count=1)
        config.optim = semisup.semisup_optim(options.dataset)
    # Every training example once per pass, none dropped or repeated: distillation, not Noisy Student's
    # confident, class-balanced selection.
    config.teacher = dict(workdir=options.teacher, threshold=0.0, per_class=0, soft=True, balance=False)
    if options.tiny:
        semisup.make_tiny_semisup(config)
    return common.lock(config)
