r"""Noisy Student (Xie et al. 2020, "Self-training with Noisy Student improves ImageNet classification").

Options after the colon: the semi-supervised ones (dataset, backbone, labels, label_fraction, steps,
labelled_batch, mu, tiny, crop; configs/fixmatch.py) and `teacher`, the run directory of the previous round:
empty for the first teacher, which trains on the labelled rows alone (mu = 0, a batch of labelled_batch). Its
students then learn from it, each round a normal resumable run; launch/noisy_student.py runs the rounds in
order:

  python launch/noisy_student.py --root=runs/noisy_student --rounds=1 \
      --config=configs/noisy_student.py:dataset=fashion_mnist,label_fraction=0.01
  # one round by hand: the teacher, then a student of it
  python -m jaxssl.main --config=configs/noisy_student.py:dataset=cifar10,labels=250 --workdir=runs/ns/round0
  python -m jaxssl.main --config=configs/noisy_student.py:dataset=cifar10,labels=250,teacher=runs/ns/round0 \
      --workdir=runs/ns/round1
  python launch/noisy_student.py --root=runs/ns_in1k --rounds=1 \
      --config=configs/noisy_student.py:dataset=imagenet2012,label_fraction=0.1 -- \
      --config.data.manual_dir=/data/imagenet

Recipe (paper, section 3 and appendix A): the teacher, not noised, labels every training example with its
class distribution (soft pseudo-labels; config.teacher.soft=False for its hard labels); examples below a
confidence of 0.3 are dropped and each class is brought to the same count (config.teacher.per_class, 0: the
training split's size / classes) by keeping its most confident examples or duplicating them; the student,
of equal or larger size (launch/noisy_student.py --grow: a larger config.model.width_multiplier on a ResNet,
e.g. backbone=resnet18 --grow=model.width_multiplier=1,1,2; a Wide ResNet's block has no width), trains
on the labelled and the pseudo-labelled rows with noise: RandAugment (2 ops at magnitude 27 of 30), dropout
0.5 before the classifier and stochastic depth 0.2 at the last block (ResNets, Wide ResNets and ViTs). The
paper's ImageNet students learn from 130M JFT images with EfficientNets and RMSProp; on these datasets the
budget, batch (B_l = 64, mu = 7), network and SGD schedule are FixMatch's, so the semi-supervised methods are
compared on the same labels, network and steps. No ImageNet anchor is quoted:
the paper's ImageNet students learn from JFT's 300M unlabelled images, not from ImageNet's own; it reports no
CIFAR or STL-10 numbers either. On Fashion-MNIST (our recipe, 900 steps per round, as the other methods)
RandAugment draws random magnitudes, as FixMatch's.
"""

from configs import common, semisup
from jaxssl import catalog

DEFAULTS = dict(semisup.SEMISUP_DEFAULTS, teacher="", soft=True)
DROP_PATH = 0.2
DROPOUT = 0.5
# A tiny teacher's predictions sit near uniform (its best ~0.12 of 10 classes): a tiny round keeps every row.
TINY_THRESHOLD = 0.0


def get_config(arg=None):
    options = common.parse_options(arg, DEFAULTS)
    if not options.teacher:
        options.mu = 0  # the first teacher: labelled rows only
    options, config = semisup.semisup_config_of(options)
    config.method = dict(name="noisy_student", unlabelled_weight=1.0, dropout=DROPOUT)
    magnitude = (0.0, 1.0) if options.dataset == "fashion_mnist" else (0.9, 0.9)
    config.augment = dict(
        preset="noisy_student", translate=0.125, randaugment_ops=2, randaugment_magnitude=magnitude
    )
    config.optim = semisup.semisup_optim(options.dataset)
    config.teacher = dict(workdir=options.teacher, threshold=0.3, per_class=0, soft=options.soft)
    if options.tiny:
        semisup.make_tiny_semisup(config)
        config.teacher.threshold = TINY_THRESHOLD
    if catalog.family_of(config.model.backbone) in ("resnet", "vit", "wide_resnet"):
        config.model.drop_path = DROP_PATH
    return common.lock(config)
