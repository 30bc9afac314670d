"""jaxssl as a library: the commands and snippets of docs/library.md run, in this process, at micro size, and
print what they should; every example is among them; the public names they use are in each package's
__all__."""

import contextlib
import importlib.util
import io
import math
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from jaxssl import augment, losses, models, probes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
LIBRARY_PAGE = os.path.join(ROOT, "docs", "library.md")
PACKAGES = {"augment": augment, "losses": losses, "models": models, "probes": probes}
FENCED = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def fenced_blocks(language: str) -> list[str]:
    with open(LIBRARY_PAGE) as f:
        return [body for lang, body in FENCED.findall(f.read()) if lang == language]


def example_commands() -> list[tuple[str, list[str]]]:
    """(script, arguments) of every `python examples/...` line of the library page's bash blocks, in order."""
    words = [shlex.split(line) for block in fenced_blocks("bash") for line in block.splitlines()]
    return [(w[1], w[2:]) for w in words if w[:1] == ["python"] and w[1].startswith("examples/")]


def load_example(script: str):
    spec = importlib.util.spec_from_file_location(
        f"example_{os.path.basename(script)[:-3]}", f"{ROOT}/{script}"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The commands of the library page, in its order; each test below runs its own.
SIMCLR = "examples/simclr_own_loop.py --steps=3 --micro --save-features=features.npz"
EVALUATE_SAVED = "examples/evaluate_features.py --features=features.npz"
EVALUATE_CLUSTERS = "examples/evaluate_features.py --micro"
BYOL = "examples/byol_own_loop.py --steps=3 --micro"


def run(command: str):
    """(what the script's main returned, what it printed) for `command`, run in this process."""
    script, *arguments = shlex.split(command)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        returned = load_example(script).main(arguments)
    return returned, printed.getvalue()


def printed_numbers(printed: str) -> dict[str, float]:
    return {name: float(value) for name, value in (line.split() for line in printed.splitlines())}


def test_the_library_page_runs_every_example_and_the_tests_run_its_commands():
    commands = [" ".join([script, *arguments]) for script, arguments in example_commands()]
    assert commands == [SIMCLR, EVALUATE_SAVED, EVALUATE_CLUSTERS, BYOL]
    scripts = {command.split()[0] for command in commands}
    assert scripts == {f"examples/{name}" for name in os.listdir(EXAMPLES) if name.endswith(".py")}


def test_simclr_prints_a_finite_loss_per_step_and_its_features_can_be_evaluated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    history, printed = run(SIMCLR)
    assert len(history) == 3 and all(math.isfinite(loss) for loss in history)
    # NT-Xent over 2 x 32 views lies near log(63) ~ 4.14 before training and above 0 always.
    assert all(0.0 < loss < 2 * math.log(63) for loss in history)
    assert [line.split()[:2] for line in printed.splitlines()[:3]] == [["step", str(i)] for i in range(3)]
    assert "saved features (128, 16)" in printed

    results, printed = run(EVALUATE_SAVED)
    assert printed_numbers(printed) == pytest.approx(results, abs=1e-4)
    assert 0.0 <= results["knn_top1"] <= 1.0 and 0.0 <= results["linear_top1"] <= 1.0
    assert 1.0 <= results["effective_rank"] <= 16.0


def test_byol_loss_falls_over_its_steps():
    history, printed = run(BYOL)
    assert len(history) == 3 and all(math.isfinite(loss) and 0.0 <= loss <= 8.0 for loss in history)
    assert history[-1] < history[0]
    assert printed.count("byol") == 3


def test_knn_and_the_linear_probe_separate_well_separated_clusters():
    results, printed = run(EVALUATE_CLUSTERS)
    assert printed_numbers(printed) == pytest.approx(results, abs=1e-4)
    assert results["knn_top1"] >= 0.98 and results["linear_top1"] >= 0.98
    assert 9.0 < results["effective_rank"] <= 32.0  # ten clusters in 32 dimensions


def test_the_library_page_snippets_run():
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        for block in fenced_blocks("python"):
            exec(compile(block, LIBRARY_PAGE, "exec"), namespace)
    assert "(4, 28, 28, 1)" in printed.getvalue() and "(2, 32) (2, 16)" in printed.getvalue()
    assert namespace["blurred"].shape == (4, 24, 24, 1)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_name_in_all_exists_once(package):
    names = PACKAGES[package].__all__
    assert len(set(names)) == len(names)
    assert [name for name in names if not hasattr(PACKAGES[package], name)] == []


def test_the_names_the_examples_and_the_library_page_use_are_public():
    sources = [LIBRARY_PAGE] + [os.path.join(EXAMPLES, name) for name in os.listdir(EXAMPLES)]
    used = set()
    for source in sources:
        with open(source) as f:
            used |= set(re.findall(r"\b(augment|losses|models|probes)\.(\w+)\(", f.read()))
    assert used, "the examples use jaxssl's packages"
    assert sorted(f"{p}.{n}" for p, n in used if n not in PACKAGES[p].__all__) == []


def test_the_probes_package_imports_neither_tensorflow_nor_the_run_machinery():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, jaxssl.probes; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    heavy = ("tensorflow", "orbax", "jaxssl.data", "jaxssl.rundir", "jaxssl.evaluation", "jaxssl.methods")
    assert [name for name in loaded if name.startswith(heavy)] == []
    assert np.isin(["jaxssl.probes.knn", "jaxssl.probes.linear"], loaded).all()
