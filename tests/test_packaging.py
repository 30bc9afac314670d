"""What a newcomer meets first, away from the checkout: the wheel holds every module and each one imports from
it, a config file loads by its path from any working directory, TensorFlow's C++ start-up lines stay quiet
unless asked for, and the records kept in results/ name no path of the machine that made them. Everything
runs offline (the wheel is built without build isolation, from a copy of the sources)."""

import glob
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import zipfile

import pytest

from jaxssl.cli import refusals
from jaxssl.data import tensorflow_import

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_FILES = ("jaxssl", "setup.cfg", "pyproject.toml", "README.md")


def source_modules() -> dict[str, str]:
    """Every module under jaxssl/ by its dotted name, to its path relative to the repository root."""
    modules = {}
    for path in pathlib.Path(REPO, "jaxssl").rglob("*.py"):
        relative = path.relative_to(REPO)
        parts = relative.with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = relative.as_posix()
    return modules


def run_python(code: str, cwd, pythonpath, **variables) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter started in `cwd` with PYTHONPATH=`pythonpath` only, in this environment
    less TF_CPP_MIN_LOG_LEVEL (as a new shell has it), plus `variables`."""
    env = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(pythonpath), **variables},
        capture_output=True,
        text=True,
        timeout=300,
    )


NOT_FROM_THE_CHECKOUT = f"""
    import os, sys
    assert {REPO!r} not in {{os.path.realpath(p or os.getcwd()) for p in sys.path}}, sys.path
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    """jaxssl's wheel, built offline by pip from a copy of the package's sources."""
    root = tmp_path_factory.mktemp("wheel")
    source, out = root / "source", root / "dist"
    for name in PACKAGE_FILES:
        origin = os.path.join(REPO, name)
        if os.path.isdir(origin):
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(origin, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
        + ["-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = glob.glob(str(out / "jaxssl-*.whl"))
    return built


def test_every_folder_of_modules_is_a_package():
    folders = {os.path.dirname(path) for path in source_modules().values()}
    assert [
        folder for folder in folders if not os.path.exists(os.path.join(REPO, folder, "__init__.py"))
    ] == []


def test_the_wheel_holds_every_source_module(wheel):
    held = set(zipfile.ZipFile(wheel).namelist())
    assert sorted(set(source_modules().values()) - held) == []


def test_every_module_imports_from_the_unpacked_wheel_outside_the_checkout(wheel, tmp_path):
    site, cwd = tmp_path / "site", tmp_path / "cwd"
    zipfile.ZipFile(wheel).extractall(site)
    cwd.mkdir()
    imported = run_python(
        NOT_FROM_THE_CHECKOUT
        + """
    import importlib, json, pkgutil
    import jaxssl
    names = ["jaxssl"] + [module.name for module in pkgutil.walk_packages(jaxssl.__path__, "jaxssl.")]
    print(json.dumps({name: importlib.import_module(name).__file__ for name in names}))
    """,
        cwd,
        site,
    )
    assert imported.returncode == 0, imported.stderr
    files = json.loads(imported.stdout.splitlines()[-1])
    assert sorted(files) == sorted(source_modules())
    assert [name for name, file in files.items() if not file.startswith(str(site) + os.sep)] == []
    assert "absl::InitializeLog" not in imported.stderr and "oneDNN" not in imported.stderr  # TF's start-up


def test_a_config_file_loads_by_its_path_from_another_working_directory(tmp_path):
    site, cwd = tmp_path / "site", tmp_path / "cwd"
    site.mkdir()
    cwd.mkdir()
    os.symlink(os.path.join(REPO, "jaxssl"), site / "jaxssl")  # jaxssl importable, configs/ not
    config, workdir = os.path.join(REPO, "configs", "quickstart.py"), tmp_path / "run"
    loaded = run_python(
        NOT_FROM_THE_CHECKOUT
        + f"""
    from jaxssl import main
    from jaxssl.cli import refusals
    refusals.parse_flags(["main", "--config={config}:method=byol", "--workdir={workdir}"])
    print(main._CONFIG.value.method.name)
    """,
        cwd,
        site,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.splitlines()[-1] == "byol"


@pytest.mark.parametrize(
    "argv, root",
    [
        (["main", "--config=configs/simclr.py:dataset=cifar10", "--workdir=w"], os.getcwd()),
        (["main", "--config", "/home/user/project/configs/simclr.py", "--workdir=w"], "/home/user/project"),
        (["main", "--mode=evaluate", "--workdir=w"], None),
    ],
)
def test_the_config_package_root_is_the_folder_above_the_config_files_folder(argv, root):
    assert refusals.config_package_root(argv) == root


def test_absl_log_lines_below_the_level_are_removed_with_absl_preamble():
    text = (
        f"{tensorflow_import.ABSL_PREAMBLE}\n"
        "I0000 00:00:1.5   7 port.cc:153] oneDNN custom operations are on.\n"
        "W0000 00:00:1.6   7 x.cc:1] a warning\n"
        "a line of the program\n"
    )
    assert tensorflow_import.below_level_removed(text, 0) == text
    assert tensorflow_import.below_level_removed(text, 1) == (
        "W0000 00:00:1.6   7 x.cc:1] a warning\na line of the program\n"
    )
    assert tensorflow_import.below_level_removed(text, 2) == "a line of the program\n"


def test_the_command_line_keeps_the_users_tf_log_level_and_starts_without_keras_which_imports_afterwards():
    code = """
    import os, sys, jaxssl.main
    assert not [m for m in sys.modules if m.split('.')[0] in ('keras', 'sklearn', 'matplotlib')], 'imported'
    print(os.environ['TF_CPP_MIN_LOG_LEVEL'])
    import keras, tensorflow as tf
    assert tf.keras.layers.Dense is keras.layers.Dense
    """
    imported = run_python(code, REPO, REPO, TF_CPP_MIN_LOG_LEVEL="0")
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert imported.stdout.split() == ["0"]


def json_strings(value):
    """Every string inside a parsed JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)


def test_kept_run_logs_name_no_absolute_path():
    """The logs under results/ (metrics.jsonl, offline_eval.jsonl) name their files relative to their run
    directory. config.json holds the run's inputs as given (a dataset folder), so it is not checked."""
    absolute = []
    for path in glob.glob(os.path.join(REPO, "results", "**", "*.jsonl"), recursive=True):
        with open(path) as f:
            for line in filter(str.strip, f):
                absolute += [
                    (os.path.relpath(path, REPO), text)
                    for text in json_strings(json.loads(line))
                    if text.startswith("/")
                ]
    assert absolute == []
