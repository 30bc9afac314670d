"""A paper's published numbers beside a report table (python -m jaxssl.report RUNS... --reference=FILE).

FILE is a JSON file of one published table, kept beside the records (results/published/):

    {"source": "SimCLR (Chen et al. 2020), Table 7: ImageNet",
     "columns": ["top-1 1 %", "top-1 10 %"],
     "rows": [{"name": "Supervised baseline", "network": "ResNet-50", "method": "supervised",
               "values": {"top-1 1 %": 25.4, "top-1 10 %": 56.4}},
              {"name": "BigBiGAN", "network": "RevNet-50 (4x)", "method": "", "values": {}}]}

A row of the report belongs to the published row whose "method" is its method's name. The report then
lists the rows in the paper's order, each published row with its numbers in columns of their own ("top-1
1 % (paper)"), the published rows no run measured as rows of their own with no numbers of ours (a "method"
of "" for one this library does not have), and the rows the paper does not have after them. A published
number the paper does not print is left out of "values"; no number of the report's is ever typed by hand.
"""

import dataclasses
import json
import math

from jaxssl.report.rows import Row


@dataclasses.dataclass(frozen=True)
class PublishedRow:
    """One row of a published table: its name in the paper, its network, the method of this library it
    corresponds to ("" for none) and its numbers by column."""

    name: str
    network: str
    method: str
    values: dict


@dataclasses.dataclass(frozen=True)
class Reference:
    source: str
    columns: tuple[str, ...]
    rows: tuple[PublishedRow, ...]


def fail(path: str, message: str):
    raise ValueError(f"--reference {path}: {message}")


def published_row(path: str, index: int, row, columns: tuple[str, ...]) -> PublishedRow:
    """Row `index` of the file's "rows", checked: its keys, a name, numbers in known columns only."""
    keys = {"name", "network", "method", "values"}
    if not isinstance(row, dict) or set(row) != keys:
        fail(path, f"row {index + 1} must be an object with exactly the keys {sorted(keys)}")
    if not all(isinstance(row[key], str) for key in ("name", "network", "method")) or not row["name"]:
        fail(path, f"row {index + 1}: name, network and method are strings, the name not empty")
    values = row["values"]
    if not isinstance(values, dict) or set(values) - set(columns):
        fail(path, f"row {index + 1} ({row['name']}): values are by column, of the columns {list(columns)}")
    for column, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            fail(path, f"row {index + 1} ({row['name']}): {column!r} is {value!r}, not a number")
    return PublishedRow(row["name"], row["network"], row["method"], dict(values))


def load(path: str) -> Reference:
    """The published table of the JSON file at `path`, every part of it checked (one line on what is wrong)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as error:
        fail(path, f"cannot be read ({error.strerror})")
    except json.JSONDecodeError as error:
        fail(path, f"is not JSON ({error})")
    if not isinstance(data, dict) or set(data) != {"source", "columns", "rows"}:
        fail(path, 'must be an object with exactly the keys "source", "columns" and "rows"')
    columns = data["columns"]
    if not columns or not all(isinstance(c, str) and c for c in columns) or len(set(columns)) < len(columns):
        fail(path, '"columns" must be distinct, non-empty column titles')
    if not isinstance(data["source"], str) or not data["source"]:
        fail(path, '"source" must name the paper and table')
    if not isinstance(data["rows"], list) or not data["rows"]:
        fail(path, '"rows" must be a non-empty list')
    rows = tuple(published_row(path, i, row, tuple(columns)) for i, row in enumerate(data["rows"]))
    methods = [row.method for row in rows if row.method]
    repeated = sorted({method for method in methods if methods.count(method) > 1})
    if repeated:
        fail(path, f"each method belongs to one published row; {', '.join(repeated)} to several")
    return Reference(data["source"], tuple(columns), rows)


def arranged(rows: list[Row], reference: Reference) -> list[tuple[Row, PublishedRow | None]]:
    """The report's rows in the paper's order, each with its published row: a published row that no report
    row belongs to gets a row of its own with no entries; the rows the paper lacks come last, in their order."""
    by_method = {}
    for row in rows:
        by_method.setdefault(row.label, []).append(row)
    placed, used = [], set()
    for published in reference.rows:
        own = by_method.get(published.method, []) if published.method else []
        placed += [(row, published) for row in own] or [(Row(published.method, {}, []), published)]
        used.add(published.method)
    return placed + [(row, None) for row in rows if row.label not in used]


def paper_columns(reference: Reference, published: dict) -> list[tuple[str, object]]:
    """(title, row -> cell) of the published row's name and network and of each published column, looked up
    in `published` ({id(row): its PublishedRow or None})."""

    def name_cell(row: Row) -> str:
        paper = published[id(row)]
        return "" if paper is None else ", ".join(filter(None, (paper.name, paper.network)))

    def value_cell(row: Row, column: str) -> str:
        paper = published[id(row)]
        return "" if paper is None or column not in paper.values else str(paper.values[column])

    columns = [("paper's row", name_cell)]
    columns += [
        (f"{column} (paper)", lambda row, c=column: value_cell(row, c)) for column in reference.columns
    ]
    return columns
