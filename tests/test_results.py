"""The README's semi-supervised (label fractions and methods), ViT, pretext, colorization and ContrastiveCrop
tables are what the report tool makes of the records kept in results/<table>/ (the run directories'
config.json and logs, exported by `python -m jaxssl.report --export`), so are the paired comparisons of the
headline rows (`--compare`), and the README's main command works as
root and as a user."""

import os

import pytest

from jaxssl import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_table(heading: str, index: int = 0) -> str:
    """The markdown table `index` (0: the first) after the README line that starts with `heading`."""
    with open(os.path.join(ROOT, "README.md")) as f:
        lines = f.read().splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith(heading))
    for _ in range(index + 1):
        first = next(i for i in range(end, len(lines)) if lines[i].startswith("|"))
        end = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[first:end]) + "\n"


# README heading of each table -> the folder of results/ whose records it is the report of.
KEPT_TABLES = {
    "### Semi-supervised: label fractions": "semisup",
    "### Semi-supervised methods": "semisup_methods",
    "### Semi-supervised headline rows": "headline/*",
    "### ViTs on Fashion-MNIST": "vit",
    "### Pretext tasks on Fashion-MNIST": "pretext",
    "### ContrastiveCrop on Fashion-MNIST": "crops",
    "### Colorization on photographs": "colorization",
}


# README heading -> the --compare pairs of its second table, the paired comparisons of its first table's rows.
KEPT_COMPARISONS = {
    "### Semi-supervised headline rows": ((4, 1), (4, 7), (1, 7), (5, 2), (5, 8), (2, 8), (6, 3), (6, 9), (3, 9)),
}


@pytest.mark.parametrize("heading", sorted(KEPT_TABLES))
def test_a_readme_table_is_the_report_of_its_kept_records(heading):
    kept = os.path.join(ROOT, "results", KEPT_TABLES[heading], "*")
    assert readme_table(heading) == report.report([kept])


@pytest.mark.parametrize("heading", sorted(KEPT_COMPARISONS))
def test_a_readme_comparison_is_the_reports_comparison_of_its_kept_records(heading):
    kept = os.path.join(ROOT, "results", KEPT_TABLES[heading], "*")
    table = readme_table(heading) + "\n" + readme_table(heading, index=1)
    assert table == report.report([kept], pairs=KEPT_COMPARISONS[heading])


def test_the_main_command_runs_for_root_without_sudo_and_for_a_user_with_it():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    main_command = readme.split("## The two commands", 1)[1].split("```bash\n", 1)[1].splitlines()[0]
    assert main_command.startswith("$(command -v sudo) apt-get install -y dataset-fashion-mnist && ")
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        assert "sudo" not in f.read()
