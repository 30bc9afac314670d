"""Configs and overrides that are refused before anything is written: unknown names, bad numbers, unknown or
misspelled keys, wrong types, and the command line's misspelled override."""

import os
import subprocess

import pytest

from configs import simclr as simclr_config
from jaxssl import train
from tests.helpers import cli, tiny_config

BAD_INPUTS = {
    "unknown method": (
        lambda c: setattr(c.method, "name", "simclrr"),
        ValueError,
        "unknown method 'simclrr'",
    ),
    "unknown backbone": (lambda c: setattr(c.model, "backbone", "resnet19"), ValueError, "unknown backbone"),
    "unknown dataset": (lambda c: setattr(c.data, "dataset", "mnist3"), ValueError, "unknown dataset"),
    "unknown stem": (lambda c: setattr(c.model, "stem", "tpu"), ValueError, "unknown stem"),
    "batch not divisible by devices": (
        lambda c: setattr(c.train, "batch_size", 12),
        ValueError,
        "divisible by the number of devices",
    ),
    "no duration": (lambda c: c.train.update(steps=-1, epochs=-1.0), ValueError, "set either"),
    "unknown optimizer": (lambda c: setattr(c.optim, "name", "lamb"), ValueError, "unknown optimizer"),
    "NaN learning rate": (
        lambda c: setattr(c.optim, "base_lr", float("nan")),
        ValueError,
        r"config.optim.base_lr is nan: every number in a config must be finite",
    ),
    "negative temperature": (
        lambda c: setattr(c.method, "temperature", -0.1),
        ValueError,
        r"config.method.temperature must be positive, got -0.1",
    ),
    "momentum above 1": (
        lambda c: setattr(c.optim, "momentum", 1.5),
        ValueError,
        r"config.optim.momentum must be in \[0, 1\]",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_before_anything_is_written(case, fashion_dir, tmp_path):
    change, error, message = BAD_INPUTS[case]
    config = tiny_config("simclr", fashion_dir)
    config.unlock()
    change(config)
    workdir = str(tmp_path / "never")
    with pytest.raises(error, match=message):
        train.run(config, workdir)
    assert not os.path.exists(workdir)


def test_unknown_key_in_a_method_block_names_the_allowed_keys(fashion_dir, tmp_path):
    config = tiny_config("simclr", fashion_dir)
    config.unlock()
    config.method.temprature = 0.2
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['temprature'\] in config.method"):
        train.run(config, str(tmp_path / "never"))
    assert not os.path.exists(tmp_path / "never")


def test_locked_config_refuses_misspelled_keys_and_wrong_types():
    config = simclr_config.get_config("tiny=1")
    with pytest.raises(AttributeError):
        config.train.bacth_size = 4
    with pytest.raises(TypeError):
        config.train.batch_size = "four"
    with pytest.raises(ValueError, match="config option"):
        simclr_config.get_config("datset=cifar10")
    with pytest.raises(ValueError, match="takes a int"):
        simclr_config.get_config("batch=big")
    with pytest.raises(ValueError, match=r"tiny=true sets its own batch and steps.*drop \['batch'\]"):
        simclr_config.get_config("batch=64,tiny=1")
    assert simclr_config.get_config("backbone=vit_small,tiny=1").model.backbone == "vit_micro"


def test_command_line_rejects_a_misspelled_override_before_writing(tmp_path):
    workdir = str(tmp_path / "never")
    command, options = cli(
        ["--config=configs/simclr.py:tiny=1", f"--workdir={workdir}", "--config.train.bacth_size=8"],
        capture_output=True,
        text=True,
    )
    result = subprocess.run(command, **options)
    assert result.returncode != 0
    assert 'Did you mean "batch_size"' in result.stderr and "Traceback" not in result.stderr
    assert not os.path.exists(workdir)
