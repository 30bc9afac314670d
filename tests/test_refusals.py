"""Every bad input is one clear line that names the option, its value and what is allowed, and touches
nothing: the options after a config's colon (tiny never drops one), the semi-supervised labelled subset
wherever it is chosen, numbers the step's dtype cannot hold, strict JSON records, and the refusals of a run
directory or starting point, made before its lock or any directory exists."""

import json
import math
import subprocess

import pytest
from absl import flags
from ml_collections import config_flags

from configs import fixmatch as fixmatch_config
from configs import noisy_student as noisy_student_config
from configs import quickstart as quickstart_config
from configs import simclr as simclr_config
from jaxssl import catalog, models, teacher, train, validate
from jaxssl.cli import refusals
from jaxssl.rundir import jsonl
from jaxssl.weights import export, load
from tests.helpers import cli, saved_run, tiny_config

FASHION = "dataset=fashion_mnist"


def refused(module, options: str) -> str:
    """The message of the ValueError with which module.get_config(options) refuses them."""
    with pytest.raises(ValueError) as raised:
        module.get_config(options)
    return str(raised.value)


@pytest.mark.parametrize(
    "options, message",
    [
        (
            "labels=70000",
            "config option labels=70000 asks for more labelled examples than fashion_mnist's 60000 training "
            "examples: give a multiple of 10 up to 60000",
        ),
        ("label_fraction=1.5", "config option label_fraction takes a fraction in (0, 1], got '1.5'"),
        (
            "mu=5",
            "tiny=true sets its own batch and steps (configs/common.py make_tiny): drop ['mu'] (given mu=5), "
            "or override the config after it (--config.semisup.mu=...)",
        ),
        (
            "steps=10,labelled_batch=2",
            "tiny=true sets its own batch and steps (configs/common.py make_tiny): drop ['steps', "
            "'labelled_batch'] (given steps=10, labelled_batch=2), or override the config after it "
            "(--config.train.steps=..., --config.train.batch_size=...)",
        ),
    ],
)
def test_tiny_refuses_the_semisupervised_options_it_cannot_honour(options, message):
    assert refused(fixmatch_config, f"{FASHION},tiny=1,{options}") == message


def test_tiny_applies_the_labelled_subset_it_is_given():
    default = fixmatch_config.get_config(f"{FASHION},tiny=1")
    assert dict(default.semisup) == dict(
        mu=3, labels_per_class=2, label_fraction=0.0, label_seed=0, labelled_indices=""
    )
    counted = fixmatch_config.get_config(f"{FASHION},tiny=1,labels=100")
    assert (counted.semisup.labels_per_class, counted.semisup.label_fraction) == (10, 0.0)
    fraction = fixmatch_config.get_config(f"{FASHION},tiny=1,label_fraction=0.1")
    assert (fraction.semisup.labels_per_class, fraction.semisup.label_fraction) == (0, 0.1)
    assert counted.train.batch_size == fraction.train.batch_size == 16
    message = refused(quickstart_config, "tiny=1,finetune=adamw")
    assert message.startswith("tiny=true trains the method's own tiny config") and "finetune=adamw" in message


def test_a_backbone_name_is_checked_against_the_registry_even_when_tiny_picks_the_micro_network():
    assert sorted(catalog.BACKBONE_NAMES) == sorted(models.BACKBONES)
    message = f"unknown backbone 'resnet99'; choose from {sorted(models.BACKBONES)}"
    assert refused(simclr_config, f"tiny=1,{FASHION},backbone=resnet99") == message
    assert refused(simclr_config, f"{FASHION},backbone=resnet99") == message
    assert simclr_config.get_config(f"tiny=1,{FASHION},backbone=vit_small").model.backbone == "vit_micro"


@pytest.mark.parametrize(
    "options, message",
    [
        (
            "labels=100,label_fraction=0.1",
            "config options labels=100 and label_fraction=0.1 both choose the labelled subset: give one of them",
        ),
        ("label_fraction=0", "config option label_fraction takes a fraction in (0, 1], got '0'"),
        ("labels=0", "config option labels takes an int >= 1, got '0'"),
        ("mu=-1", "config option mu takes an int >= 0, got '-1'"),
        (
            "labels=45",
            "config option labels=45 does not split evenly over fashion_mnist's 10 classes: give a multiple "
            "of 10 up to 60000",
        ),
    ],
)
def test_the_labelled_subset_is_chosen_once_and_in_range_after_the_colon(options, message):
    assert refused(fixmatch_config, f"{FASHION},{options}") == message


@pytest.mark.parametrize(
    "overrides, got",
    [
        (dict(labels_per_class=10), "labels_per_class=10, label_fraction=0.01"),
        (dict(label_fraction=0.0), "labels_per_class=0, label_fraction=0.0"),
        (dict(label_fraction=1.5), "labels_per_class=0, label_fraction=1.5"),
        (dict(labels_per_class=-3), "labels_per_class=-3, label_fraction=0.01"),
    ],
)
def test_the_labelled_subset_is_chosen_once_and_in_range_by_overrides(overrides, got):
    config = fixmatch_config.get_config(FASHION)
    config.semisup.update(overrides)
    with pytest.raises(ValueError) as raised:
        validate.check_config(config)
    assert str(raised.value) == (
        "config.semisup chooses the labelled subset by an int labels_per_class > 0 or by a label_fraction in "
        "(0, 1], exactly one of them (the other 0: --config.semisup.labels_per_class=0 or "
        f"--config.semisup.label_fraction=0); got {got}"
    )


def flag_refusal(*args) -> str:
    """The refusal_message of parsing `args` with a --config flag of their own (main's flags stay unparsed)."""
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "config", flag_values=flag_values, lock_config=True)
    with pytest.raises(flags.Error) as raised:
        flag_values(["main", *args])
    return refusals.refusal_message(raised.value, flag_values)


def test_a_config_files_own_error_is_its_message_and_an_override_of_the_wrong_type_names_the_type():
    assert flag_refusal("--config=configs/simclr.py:tiny=1,datset=fashion_mnist") == (
        "config option 'datset=fashion_mnist' is not name=value with a name in ['backbone', 'batch', 'crop', "
        "'dataset', 'epochs', 'tiny']"
    )
    assert flag_refusal("--config=configs/simclr.py:dataset=fashion_mnistt") == (
        "unknown dataset 'fashion_mnistt'; choose from ['cifar10', 'cifar100', 'fashion_mnist', 'folder', "
        "'imagenet2012', 'stl10']"
    )
    config = simclr_config.get_config("tiny=1")
    text = "--config.optim.base_lr=abc: could not convert string to float: 'abc'"
    assert refusals.override_type_message(text, config) == (
        "--config.optim.base_lr=abc: config.optim.base_lr takes a float, got 'abc'"
    )
    assert refusals.override_type_message("--config.optim.nope=1: ...", config) is None
    assert refusals.one_line("a\n  b\n\nc ") == "a b c"


def test_the_command_refuses_in_one_line_and_creates_nothing_unless_a_traceback_is_asked_for(tmp_path):
    workdir = tmp_path / "never"
    command, options = cli(
        ["--config=configs/simclr.py:tiny=1,datset=fashion_mnist", f"--workdir={workdir}"],
        capture_output=True,
        text=True,
    )
    result = subprocess.run(command, **options)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "error: config option 'datset=fashion_mnist' is not name=value with a name in ['backbone', 'batch', "
        "'crop', 'dataset', 'epochs', 'tiny']\n"
    )
    command, options = cli(
        ["--config=configs/simclr.py:tiny=1", "--config.optim.base_lr=1e40", f"--workdir={workdir}"],
        capture_output=True,
        text=True,
    )
    options["env"]["JAXSSL_TRACEBACK"] = "1"
    result = subprocess.run(command, **options)
    assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == f"ValueError: {INFINITE_LR}"
    assert not workdir.exists()


INFINITE_LR = (
    "config.optim.base_lr is 1e+40, beyond float32's largest number 3.403e+38: every number in a config must "
    "be finite in the dtypes the step computes in (float32)"
)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(base_lr=1e40), INFINITE_LR),
        (dict(base_lr=1e-50), "config.optim.base_lr must be positive, got 1e-50 (0 in float32)"),
        (
            dict(base_lr=3e38),
            "config.optim.base_lr=3e+38 scaled to batch 512 (lr_scaling='linear') is a peak learning rate of "
            "6e+38, beyond float32's largest number 3.403e+38: the step's learning rate would be infinite",
        ),
    ],
)
def test_a_number_the_steps_dtype_cannot_hold_is_refused(change, message):
    config = simclr_config.get_config(FASHION)
    config.optim.update(change)
    with pytest.raises(ValueError) as raised:
        validate.check_config(config)
    assert str(raised.value) == message


def test_records_are_strict_json_and_read_back_their_non_finite_numbers(tmp_path):
    path = str(tmp_path / "metrics.jsonl")
    record = {"step": 1, "lr": math.inf, "grid": [-math.inf, 0.5], "health": {"rank": math.nan}, "split": "a"}
    jsonl.append(path, [record])
    with open(path) as f:
        line = f.read()
    strict = json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} is not strict JSON"))
    assert strict == {
        "step": 1,
        "lr": "Infinity",
        "grid": ["-Infinity", 0.5],
        "health": {"rank": "NaN"},
        "split": "a",
    }
    (read,) = jsonl.read(path)
    assert read["lr"] == math.inf and read["grid"] == [-math.inf, 0.5] and math.isnan(read["health"]["rank"])


def test_a_starting_point_that_does_not_fit_is_refused_before_the_lock_or_any_directory(
    fashion_dir, tmp_path
):
    source = str(tmp_path / "simclr")
    simclr = tiny_config("simclr", fashion_dir, steps=1)
    saved_run(simclr, source)
    path = export.export(simclr, source, naming="native")
    workdir = tmp_path / "never"
    for init in (dict(weights=path), dict(workdir=source)):
        vit = tiny_config("fixmatch", fashion_dir, steps=1, options="backbone=vit_small")
        vit.init.update(init)
        with pytest.raises(
            load.InitWeightsError, match="does not fit this run's backbone .* Nothing was written"
        ):
            train.run(vit, str(workdir))
        assert not workdir.exists()
    (tmp_path / "simclr" / "config.json").write_text(simclr.to_json())
    student = noisy_student_config.get_config(f"{FASHION},tiny=1,teacher={source}")
    student.data.manual_dir = fashion_dir
    with pytest.raises(ValueError) as raised:
        train.run(student, str(workdir))
    assert str(raised.value) == (
        f"the teacher in {source} (simclr) has no classifier of its own to pseudo-label with: a teacher is a "
        "run of a method that trains one (supervised, fixmatch, ...), or the predictions of a fine-tuned one "
        f"({teacher.PREDICTIONS_HINT})"
    )
    assert not workdir.exists()
