"""The result tables of README.md and docs/ are what the report tool makes of the records kept in results/
(the run directories' config.json and logs, exported by `python -m jaxssl.report --export`): a table
preceded by `<!-- report: python -m jaxssl.report ARGS -->` is that command's output, run from the
repository root. The hand-written lineage table holds its records' numbers, the results pages link to
files that exist, no kept record holds an absolute path, and the README's main command works as root and as
a user."""

import glob
import json
import os
import re
import shlex

import pytest

from jaxssl.report import compare, reference
from jaxssl.report import tables as report
from jaxssl.report.runs import grid_point

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_PAGES = os.path.join(ROOT, "docs", "results")
MARKER = re.compile(r"<!-- report: python -m jaxssl\.report (.+) -->")
LINK = re.compile(r"\]\(([^)\s#]+)[^)]*\)")


def documents() -> list[str]:
    """README.md and every markdown page under docs/, relative to the repository root."""
    pages = glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
    return ["README.md"] + sorted(os.path.relpath(page, ROOT) for page in pages)


def read_lines(document: str) -> list[str]:
    with open(os.path.join(ROOT, document)) as f:
        return f.read().splitlines()


def generated_tables() -> list[tuple[str, int, str]]:
    """(document, 1-based line of the marker, the report's arguments) of every report marker."""
    return [
        (document, number, match.group(1))
        for document in documents()
        for number, line in enumerate(read_lines(document), start=1)
        if (match := MARKER.fullmatch(line.strip()))
    ]


def report_of(arguments: str) -> str:
    """What `python -m jaxssl.report ARGUMENTS` prints from the repository root (run directories or globs,
    --knn, --compare and --reference)."""
    patterns, knn_points, pairs, published = [], (), (), None
    for word in shlex.split(arguments):
        flag, _, value = word.partition("=")
        if flag == "--knn":
            knn_points = tuple(grid_point(point) for point in value.split(","))
        elif flag == "--compare":
            pairs = compare.parse_pairs(value.split(","))
        elif flag == "--reference":
            published = reference.load(os.path.join(ROOT, value))
        elif word.startswith("--"):
            raise ValueError(
                f"a report marker takes run directories, --knn, --compare and --reference, not {word}"
            )
        else:
            patterns.append(os.path.join(ROOT, word))
    return report.report(patterns, knn_points=knn_points, pairs=pairs, reference=published)


GENERATED_TABLES = generated_tables()


@pytest.mark.parametrize(
    ("document", "line", "arguments"),
    GENERATED_TABLES,
    ids=[f"{document}:{line}" for document, line, _ in GENERATED_TABLES],
)
def test_a_generated_table_is_the_report_of_its_kept_records(document, line, arguments):
    expected = report_of(arguments)
    shown = read_lines(document)[line : line + expected.count("\n")]
    assert "\n".join(shown) + "\n" == expected


def test_every_kept_record_folder_but_the_lineage_has_a_generated_table():
    shown = {
        os.path.normpath(word.removeprefix("--reference=")).split(os.sep)[1]
        for _, _, arguments in GENERATED_TABLES
        for word in shlex.split(arguments)
        if word.removeprefix("--reference=").startswith("results/")
    }
    # active_learning: loops, not runs; tests/test_active.py checks the table its records give
    assert set(os.listdir(os.path.join(ROOT, "results"))) - {"lineage", "active_learning"} <= shown


def absolute_paths(value) -> list[str]:
    """The strings of a record (nested dicts and lists) that are absolute paths."""
    if isinstance(value, dict):
        return [path for item in value.values() for path in absolute_paths(item)]
    if isinstance(value, list):
        return [path for item in value for path in absolute_paths(item)]
    return [value] if isinstance(value, str) and os.path.isabs(value) and value != os.sep else []


def test_no_kept_record_holds_an_absolute_path():
    found = {}
    for path in glob.glob(os.path.join(ROOT, "results", "**", "*.json*"), recursive=True):
        with open(path) as f:
            lines = [json.load(f)] if path.endswith(".json") else [json.loads(line) for line in f]
        if paths := [p for line in lines for p in absolute_paths(line)]:
            found[os.path.relpath(path, ROOT)] = sorted(set(paths))
    assert not found, found


# The lineage table's rows (by the start of their first cell) -> the folder of results/lineage/ with their
# records: the AdamW run, and where there is one, the LARS run of the last column.
LINEAGE_ROWS = {
    "LeNet-5": "lenet5",
    "AlexNet": "alexnet",
    "VGG-11": "vgg11",
    "ResNet-10": "resnet10",
    "MobileNet v2": "mobilenet_v2",
    "ResNet-18": "resnet18",
}


def lineage_table_rows() -> list[list[str]]:
    """The cells of the rows of docs/results/cnn_lineage.md's table with an AdamW column."""
    lines = read_lines(os.path.join("docs", "results", "cnn_lineage.md"))
    header = next(
        i for i, line in enumerate(lines) if line.startswith("| backbone | top-1 after 1 epoch (AdamW)")
    )
    end = next(i for i in range(header, len(lines)) if not lines[i].startswith("|"))
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[header + 2 : end]]


def test_the_lineage_table_holds_its_records_numbers():
    rows = lineage_table_rows()
    assert len(rows) == len(LINEAGE_ROWS)
    for name, adamw_top1, train_loss, lars_cell in rows:
        folder = next(folder for start, folder in LINEAGE_ROWS.items() if name.startswith(start))
        with open(os.path.join(ROOT, "results", "lineage", folder, "offline_eval.jsonl")) as f:
            runs = {record["recipe"]["optimizer"]: record for record in map(json.loads, f)}
        assert adamw_top1 == f"{100 * runs['adamw']['top1']:.2f}"
        assert train_loss == f"{runs['adamw']['final_train_loss']:.3f}"
        lars = f"{100 * runs['lars']['top1']:.2f}" if "lars" in runs else "–"
        assert lars_cell.split(" ")[0] == lars


def test_the_results_pages_link_to_files_that_exist_and_the_index_links_every_page():
    pages = sorted(glob.glob(os.path.join(RESULTS_PAGES, "*.md")))
    for page in pages:
        with open(page) as f:
            targets = [target for target in LINK.findall(f.read()) if "://" not in target]
        missing = [target for target in targets if not os.path.exists(os.path.join(RESULTS_PAGES, target))]
        assert not missing, (page, missing)
    with open(os.path.join(RESULTS_PAGES, "README.md")) as f:
        linked = set(LINK.findall(f.read()))
    assert {os.path.basename(page) for page in pages} - {"README.md"} <= linked


def test_the_main_command_runs_for_root_without_sudo_and_for_a_user_with_it():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    main_command = readme.split("## The two commands", 1)[1].split("```bash\n", 1)[1].splitlines()[0]
    assert main_command.startswith("$(command -v sudo) apt-get install -y dataset-fashion-mnist && ")
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        assert "sudo" not in f.read()
