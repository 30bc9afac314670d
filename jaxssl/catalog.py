"""The named datasets and the backbone families: plain facts that the configs (configs/common.py, which never
imports jax or TensorFlow) and the library (jaxssl/data/sources.py, jaxssl/validate.py) both read.

Pure Python: this module imports nothing.
"""

# The published constants of the named datasets (jaxssl.data.records.DatasetInfo's fields): classes, stored
# image shape ((0, 0, 3): sizes vary), per-channel mean and std of [0, 1] pixels, split sizes (STL-10's
# training split holds its unlabelled images too).
PUBLISHED_DATASETS = {
    "fashion_mnist": dict(
        num_classes=10,
        image_shape=(28, 28, 1),
        mean=(0.2860,),
        std=(0.3530,),
        train_examples=60_000,
        eval_examples=10_000,
    ),
    "cifar10": dict(
        num_classes=10,
        image_shape=(32, 32, 3),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        train_examples=50_000,
        eval_examples=10_000,
    ),
    "cifar100": dict(
        num_classes=100,
        image_shape=(32, 32, 3),
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        train_examples=50_000,
        eval_examples=10_000,
    ),
    "stl10": dict(
        num_classes=10,
        image_shape=(96, 96, 3),
        mean=(0.4467, 0.4398, 0.4066),
        std=(0.2603, 0.2566, 0.2713),
        train_examples=105_000,
        eval_examples=8_000,
    ),
    "imagenet2012": dict(
        num_classes=1000,
        image_shape=(0, 0, 3),
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        train_examples=1_281_167,
        eval_examples=50_000,
    ),
}
# The class names of the named datasets whose classes have names, in label order (0, 1, ...).
CLASS_NAMES = {
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
    "stl10": ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"),
}
# The named datasets whose every training image is labelled, with the same number of images per class: a
# label fraction f of them is classes x round(f x train_examples / classes) images.
BALANCED_DATASETS = ("fashion_mnist", "cifar10", "cifar100")
# Datasets read from image files of varying sizes: the host decodes, crops and resizes each view. "folder" is
# any image folder; its constants are counted when it is read.
IMAGE_FOLDER_DATASETS = ("imagenet2012", "folder")
DATASET_NAMES = (*PUBLISHED_DATASETS, "folder")

# The backbone families, each the prefix of its backbones' registered names (jaxssl.models.BACKBONES): a
# family's backbones take the same options (config.model).
FAMILIES = ("alexnet", "lenet", "mobilenet", "resnet", "vgg", "vit", "wide_resnet")
# Every registered backbone name (jaxssl.models.BACKBONES holds their builders), so that a config names one
# before anything imports the networks.
BACKBONE_NAMES = (
    "alexnet",
    "alexnet_micro",
    "lenet5",
    "mobilenet_v1",
    "mobilenet_v1_micro",
    "mobilenet_v2",
    "mobilenet_v2_micro",
    "resnet10",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet_micro",
    "vgg11",
    "vgg16",
    "vgg_micro",
    "vit_base",
    "vit_micro",
    "vit_small",
    "vit_tiny",
    "wide_resnet28_2",
    "wide_resnet28_8",
    "wide_resnet_micro",
)


def family_of(backbone: str) -> str:
    """The family of a backbone name, by its longest family prefix: "wide_resnet", "resnet", "vit", ..."""
    for family in sorted(FAMILIES, key=len, reverse=True):
        if backbone.startswith(family):
            return family
    raise ValueError(f"backbone {backbone!r} belongs to no family of {sorted(FAMILIES)}")
