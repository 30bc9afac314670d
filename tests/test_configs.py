"""Every method config resolves, on every dataset and as `tiny`, into blocks that the run accepts.

The checks mirror what `jaxssl.validate.check_config` and the methods' `make` enforce before a run starts
(names registered, keys that the functions take, queues holding whole batches), without building a network or
loading data, so that a wrong key or size fails here, for every dataset, in a fraction of a second.
"""

import importlib
import pathlib
import re
import subprocess
import sys

import ml_collections
import pytest

from configs import common, semisup
from jaxssl import (
    augment,
    catalog,
    config_args,
    experiment,
    models,
    optim,
    schedules,
    sharding,
    validate,
    validate_eval,
)
from jaxssl.data import sources
from jaxssl.evaluation import runner
from jaxssl.methods import METHODS
from jaxssl.probes import finetune

CONFIG_MODULES = (
    "simclr",
    "simclr_v2",
    "simclr_v2_distill",
    "byol",
    "moco_v2",
    "moco_v3",
    "simsiam",
    "barlow_twins",
    "vicreg",
    "swav",
    "dino",
    "ibot",
    "dinov2",
    "nnclr",
    "deepcluster_v2",
    "instdisc",
    "pirl",
    "mae",
    "simmim",
    "ijepa",
    "msn",
    "rotnet",
    "jigsaw",
    "relative_patch",
    "colorization",
    "context_encoder",
    "denoising_autoencoder",
    "cpc_v2",
    "fixmatch",
    "pseudo_label",
    "mean_teacher",
    "mixmatch",
    "noisy_student",
    "co_training",
    "deep_co_training",
    "vat",
    "uda",
    "s4l",
    "supervised",
    "protonet",
    "maml",
)
NOT_METHOD_CONFIGS = ("__init__", "common", "quickstart", "semisup")
DATASETS = tuple(name for name in common.DATASETS if name != "folder")
CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"

# Method -> (its queue-size keyword, the number of views it enqueues per step given its config.method).
QUEUES = {
    "moco_v2": ("queue_size", lambda method: 2 if method["symmetric"] else 1),
    "nnclr": ("queue_size", lambda method: 1),
    "swav": ("queue_length", lambda method: 1),
}
# The largest integer a `tiny` config may give a method hyperparameter (heads, queues, prototypes).
TINY_LIMIT = 64


def documented_options(module_name: str) -> list[str]:
    """The option strings of the commands in a config's docstring (`--config=configs/NAME.py:OPTIONS`)."""
    docstring = importlib.import_module(f"configs.{module_name}").__doc__
    return re.findall(rf"--config=configs/{module_name}\.py:(\S+)", docstring)


def cases():
    """(module, option string) for every dataset, plain and tiny, and for every documented command."""
    for module_name in CONFIG_MODULES:
        for dataset in DATASETS:
            yield module_name, f"dataset={dataset}"
            yield module_name, f"dataset={dataset},tiny=true"
        for options in documented_options(module_name):
            yield module_name, options


CASES = [pytest.param(module, options, id=f"{module}:{options}") for module, options in cases()]
TINY_CASES = [param for param in CASES if "tiny=true" in param.values[1]]


def load(module_name: str, options: str):
    return importlib.import_module(f"configs.{module_name}").get_config(options)


def registered_make(name: str):
    """METHODS[name], or a test failure that names the missing method."""
    if name not in METHODS:
        pytest.fail(
            f"config.method.name {name!r} is not registered in jaxssl.methods.METHODS {sorted(METHODS)}"
        )
    return METHODS[name]


def test_every_method_config_is_checked():
    on_disk = {path.stem for path in CONFIG_DIR.glob("*.py")} - set(NOT_METHOD_CONFIGS)
    assert on_disk == set(CONFIG_MODULES)


def test_every_config_documents_a_cifar_and_an_imagenet_command():
    for module_name in CONFIG_MODULES:
        datasets = {re.search(r"dataset=(\w+)", options)[1] for options in documented_options(module_name)}
        assert {"cifar10", "imagenet2012"} <= datasets, module_name


@pytest.mark.parametrize("module_name, options", CASES)
def test_method_keys_are_make_keywords(module_name, options):
    config = load(module_name, options)
    method = dict(config.method)
    make = registered_make(method.pop("name"))
    config_args.check_kwargs(make, method, "method", provided=("context",))


@pytest.mark.parametrize("module_name, options", CASES)
def test_model_block_holds_options_of_its_backbone_family(module_name, options):
    validate.check_model(load(module_name, options))


def test_every_family_block_builds_its_micro_backbone_and_foreign_options_are_refused():
    config = load("simclr", "dataset=cifar10,tiny=true")
    for family, micro in common.MICRO_BACKBONES.items():
        config.model = common.model_block(micro, "cifar10", 16)
        validate.check_model(config)
        assert catalog.family_of(micro) == family
    config.model = dict(common.model_block("resnet_micro", "cifar10", 16), patch_size=4)
    with pytest.raises(ValueError, match=r"patch_size is not an option of backbone 'resnet_micro'"):
        validate.check_model(config)


def test_every_backbone_belongs_to_a_family_with_a_model_block_and_a_micro_backbone():
    assert {catalog.family_of(name) for name in models.BACKBONES} == set(catalog.FAMILIES)
    assert set(common.FAMILY_OPTIONS) == set(common.MICRO_BACKBONES) == set(catalog.FAMILIES)


def test_the_configs_name_the_datasets_the_library_loads():
    assert tuple(common.DATASETS) == tuple(sources.DATASETS) == catalog.DATASET_NAMES
    semisup_tables = (semisup.SEMISUP_BACKBONES, semisup.SEMISUP_LABELS, semisup.SEMISUP_FRACTIONS)
    for table in (*semisup_tables, semisup.SEMISUP_STEPS, semisup.SEMISUP_EMA):
        assert set(table) <= set(catalog.DATASET_NAMES)
    for name, info in sources.PUBLISHED_INFO.items():
        assert common.DATASETS[name]["image_size"] == (info.image_shape[0] or common.IMAGE_FOLDER_SIDE)


def test_the_configs_import_neither_jax_nor_tensorflow():
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, configs.common; print(sorted(sys.modules))"],
        cwd=CONFIG_DIR.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert not [name for name in imported if name.split(".")[0] in ("jax", "jaxlib", "tensorflow", "flax")]


@pytest.mark.parametrize("module_name, options", CASES)
def test_augment_keys_build_the_views(module_name, options):
    config = load(module_name, options)
    kwargs = dict(config.augment)
    preset = augment.VIEW_PRESETS[kwargs.pop("preset")]
    config_args.check_kwargs(preset, kwargs, "augment", provided=("size",))
    specs = preset(config.data.image_size, **kwargs)
    assert len(specs) >= 1
    assert all(spec.size <= config.data.image_size for spec in specs)


@pytest.mark.parametrize("module_name, options", CASES)
def test_optimizer_keys_and_learning_rate(module_name, options):
    config = load(module_name, options)
    assert config.optim.name in optim.OPTIMIZERS
    assert ("trust_coefficient" in config.optim) == (config.optim.name == "lars")
    assert config.optim.probe_lr == 1e-3
    kwargs = config_args.optimizer_kwargs(config)
    config_args.check_kwargs(optim.make_optimizer, kwargs, "optim", provided=("name", "learning_rate"))
    peak = schedules.scaled_learning_rate(
        config.optim.base_lr, config.train.batch_size, config.optim.lr_scaling
    )
    assert peak > 0


@pytest.mark.parametrize("module_name, options", CASES)
def test_queues_take_whole_batches(module_name, options):
    config = load(module_name, options)
    batch = config.train.batch_size
    method = config.method
    if method.name in QUEUES:
        key, views_enqueued = QUEUES[method.name]
        assert method[key] % (batch * views_enqueued(method)) == 0, (key, method[key], batch)
    if method.name == "moco_v2":
        assert batch % method.bn_groups == 0


@pytest.mark.parametrize("module_name, options", TINY_CASES)
def test_tiny_is_micro(module_name, options):
    config = load(module_name, options)
    assert config.model.backbone in common.MICRO_BACKBONES.values()
    assert config.train.batch_size == 16
    assert config.data.image_size == 16
    assert max(_integers(dict(config.method)), default=0) <= TINY_LIMIT, dict(config.method)


def _integers(tree):
    """Every int (not bool) in a nest of dicts, tuples and lists."""
    if isinstance(tree, dict):
        tree = list(tree.values())
    if isinstance(tree, (list, tuple)):
        for item in tree:
            yield from _integers(item)
    elif isinstance(tree, int) and not isinstance(tree, bool):
        yield tree


@pytest.mark.parametrize("module_name, options", CASES)
def test_evaluation_blocks_are_recipes_and_the_anchor_is_quoted_in_the_docstring(module_name, options):
    config = load(module_name, options)
    validate_eval.check_eval_config(config)
    for block in ("linear_sgd", "finetune"):
        assert finetune.Recipe(**config[block]).steps(config.train.batch_size) >= 1
    anchor = config.anchor
    unquoted_vit = config.model.backbone.startswith("vit") and "No anchor is quoted" in load_docstring(
        module_name
    )
    unquoted = unquoted_vit or "No ImageNet anchor is quoted" in load_docstring(module_name)
    if config.data.dataset == "imagenet2012" and not unquoted:
        assert anchor.top1 > 0
    if config.data.dataset in ("fashion_mnist", "stl10"):
        assert anchor.top1 == -1.0
    if anchor.top1 > 0:
        assert anchor.protocol in ("classifier", "online_probe", "linear_sgd", "finetune") and anchor.source
        quoted = {float(number) for number in re.findall(r"\d+\.\d+", load_docstring(module_name))}
        assert anchor.top1 in quoted, (module_name, anchor.top1)


def load_docstring(module_name: str) -> str:
    return importlib.import_module(f"configs.{module_name}").__doc__


def test_a_resnet_run_keeps_the_identity_its_checkpoints_were_written_with():
    config = load("simclr", "dataset=cifar10")
    assert experiment.identity_of(config) == {
        "method": "simclr",
        "backbone": "resnet18",
        "width_multiplier": 1.0,
        "stem": "cifar",
        "dataset": "cifar10",
        "image_size": 32,
    }
    vit = experiment.identity_of(load("mae", "dataset=cifar10,backbone=vit_tiny"))
    assert {vit["backbone"], vit["patch_size"], vit["pos_embed"]} == {"vit_tiny", 4, "sincos"}


def test_evaluation_records_name_a_vits_patch_size_and_no_other_backbones():
    assert runner.vit_patch(load("mae", "dataset=cifar10,backbone=vit_tiny")) == {"patch_size": 4}
    assert runner.vit_patch(load("simclr", "dataset=cifar10")) == {}


def test_the_weight_split_threshold_places_weights_without_changing_the_run():
    config = load("simclr", "dataset=cifar10")
    assert config.mesh.min_split_weight_bytes == sharding.DEFAULT_MIN_SPLIT_WEIGHT_BYTES
    identity = experiment.identity_of(config)
    config.mesh.min_split_weight_bytes = 0
    validate.check_config(config)
    assert experiment.identity_of(config) == identity  # checkpoints restore under any placement
    blocks = {name: block for name, block in config.to_dict().items() if name != "mesh"}
    before_mesh = ml_collections.ConfigDict(blocks)  # a config.json written before the mesh block
    assert config_args.min_split_weight_bytes(before_mesh) == sharding.DEFAULT_MIN_SPLIT_WEIGHT_BYTES
    for wrong in (-1, 1.5, True):
        config = ml_collections.ConfigDict(dict(blocks, mesh=dict(min_split_weight_bytes=wrong)))
        with pytest.raises(ValueError, match="min_split_weight_bytes must be an int >= 0"):
            validate.check_config(config)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (("model", "patch_size", 5), "patch_size 5 does not divide image_size 32"),
        (("model", "pool", "max"), "unknown pool 'max'"),
        (("finetune", "layer_decay", 1.5), "layer_decay must lie in"),
        (("finetune", "drop_path", 1.0), "drop_path must be -1"),
    ],
)
def test_a_vit_option_that_cannot_work_is_a_config_error(override, message):
    config = load("mae", "dataset=cifar10,backbone=vit_tiny")
    block, key, value = override
    config[block][key] = value
    with pytest.raises(ValueError, match=message):
        validate.check_config(config)
