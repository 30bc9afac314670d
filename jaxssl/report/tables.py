r"""A paper-style table from run directories: python -m jaxssl.report RUN_DIR_OR_GLOB... [--output=FILE.md]
[--curves=FILE.png] [--knn=20/0.07,200/0.07] [--export=DIR] [--compare=ROW:ROW,...] [--reference=FILE]

The entries of each run directory (runs.py: one per representation it evaluated, the pretrained
network, the untrained one, raw pixels, supervised training) that differ only in their seed form one row,
mean ± sample standard deviation (ddof 1) over the seeds. A row names its method first, then, each in its
own column, the settings that tell it from the other rows of its method (rows.py: the label count, the run
it started from, the teacher, the crop policy, ...); the baselines come after the methods. Every number is
a top-1 accuracy in %, except the effective rank (marked when the health protocol found a seed's
representation collapsed), the wall time (minutes) and images/s. --compare=2:1 adds the paired
differences, seed by seed, of row 2 against row 1 on every protocol both measured (compare.py: mean ± std,
paired t and its two-sided p), as a matrix of label count by comparison where the pairs span label counts;
--compare="3[own classifier]:1[fine-tune 1 %]" compares each row on the column it names.
--reference=FILE puts a paper's published table beside the runs' (reference.py): the rows in the paper's order, its
numbers in columns of their own, a row for each published row no run measured.
"""

import os
import re

import numpy as np

from jaxssl import catalog
from jaxssl.report import compare, plots
from jaxssl.report import reference as reference_lib
from jaxssl.report import rows as rows_lib
from jaxssl.report.runs import Entry, entries_of, run_directories
from jaxssl.rundir import jsonl

PROTOCOL_TITLES = {
    "classifier": "own classifier",
    "classifier top-5": "own classifier top-5",
    "online_probe": "online probe",
    "linear_sgd": "linear (SGD)",
    "linear_sgd top-5": "linear (SGD) top-5",
    "linear_lbfgs": "linear (L-BFGS)",
    "knn": "kNN best",
    "finetune": "fine-tune",
    "finetune top-5": "fine-tune top-5",
}
FEWSHOT_TITLES = {"fewshot ": "{} probe", "episodes ": "{}"}  # "fewshot 5-shot": "5-shot probe"


def mean_std(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"


def best_knn(group: list[Entry], fraction: float) -> str:
    """The (k, T) of the grid with the best mean top-1 over the seeds, as 'mean ± std (k, T)'."""
    grids = [entry.knn_grids[fraction] for entry in group if fraction in entry.knn_grids]
    if not grids:
        return ""
    keys = set.intersection(*(set(grid) for grid in grids))
    best = max(sorted(keys), key=lambda key: np.mean([grid[key] for grid in grids]))
    missing = f", {len(grids)} of {len(group)} seeds" if len(grids) < len(group) else ""
    return f"{mean_std([grid[best] for grid in grids])} (k={best[0]}, T={best[1]:g}{missing})"


def fraction_title(fraction: float) -> str:
    return "" if fraction == 1.0 else f" {fraction * 100:g} %"


def fewshot_setting(protocol: str) -> tuple[int, int, int]:
    """The sort key of a few-shot column: the probes before the episodes, then by ways and shots
    ("episodes 5-way 1-shot logistic" -> (1, 5, 1))."""
    kind = 0 if protocol.startswith("fewshot ") else 1
    numbers = dict((unit, int(n)) for n, unit in re.findall(r"(\d+)-(way|shot)\b", protocol))
    return kind, numbers.get("way", 0), numbers.get("shot", 0)


def columns_of(groups) -> list[tuple[str, float]]:
    """(protocol, fraction) columns some row has: the whole label set first, then the fractions ascending;
    few-shot columns by setting, the classifiers of one setting in the order the rows first name them."""
    present = {key for group in groups for entry in group for key in entry.values}
    fractions = sorted({fraction for _, fraction in present}, key=lambda f: (f != 1.0, f))
    layers, fewshot = (
        list(dict.fromkeys(p for group in groups for e in group for p, _ in e.values if p.startswith(prefix)))
        for prefix in ("layer ", tuple(FEWSHOT_TITLES))
    )
    fewshot.sort(key=fewshot_setting)
    return [
        (protocol, f)
        for f in fractions
        for protocol in (*PROTOCOL_TITLES, *layers, *fewshot)
        if (protocol, f) in present
    ]


def title_of(protocol: str) -> str:
    """A column's title: the protocol's, "linear <layer>" for a per-layer probe, "5-shot probe" or "5-way
    1-shot prototype_euclidean" for a few-shot setting."""
    for prefix, title in FEWSHOT_TITLES.items():
        if protocol.startswith(prefix):
            return title.format(protocol.removeprefix(prefix))
    return PROTOCOL_TITLES.get(protocol, protocol.replace("layer ", "linear ", 1))


def describe_settings(settings: dict) -> tuple[str, str, str]:
    """(backbone, pretraining, batch) cells of a row: "resnet10 x0.25" for a width multiplier, "vit_tiny/4"
    for a ViT's patch size in pixels (as in "ViT-B/16")."""
    name = settings.get("model.backbone")
    if name is None:
        return "–", *describe_duration(settings)
    width, patch = settings.get("model.width_multiplier"), settings.get("model.patch_size")
    backbone = name + (f" x{width:g}" if width not in (None, 1.0) else "")
    if patch is not None and catalog.family_of(name) == "vit":
        backbone += f"/{patch}"
    return backbone, *describe_duration(settings)


def describe_duration(settings: dict) -> tuple[str, str]:
    """(pretraining, batch) cells of a row."""
    epochs, steps = settings.get("train.epochs"), settings.get("train.steps")
    if steps is not None and steps >= 0:
        pretraining = f"{steps} steps"
    elif epochs is not None and epochs >= 0:
        pretraining = f"{epochs:g} epoch" + ("" if epochs == 1 else "s")
    else:
        pretraining = "–"
    batch = settings.get("train.batch_size")
    return pretraining, "–" if batch is None else str(batch)


def metric_columns(groups, knn_points) -> list[tuple[str, object]]:
    """(title, group -> cell) of each protocol and fraction some row has: the kNN grid's best point, or each
    of `knn_points` ((k, T) pairs) when given."""
    columns = []
    for protocol, fraction in columns_of(groups):
        suffix = fraction_title(fraction)
        if protocol == "knn" and knn_points:
            for k, t in knn_points:
                columns.append(
                    (
                        f"kNN k={k} T={t:g}{suffix}",
                        lambda g, f=fraction, p=(k, t): mean_std([e.knn_grids.get(f, {}).get(p) for e in g]),
                    )
                )
        elif protocol == "knn":
            columns.append((PROTOCOL_TITLES[protocol] + suffix, lambda g, f=fraction: best_knn(g, f)))
        else:
            columns.append(
                (title_of(protocol) + suffix, lambda g, p=protocol, f=fraction: value_cell(g, p, f))
            )
    return columns


def value_cell(group: list[Entry], protocol: str, fraction: float) -> str:
    """Mean ± std of one protocol and fraction over the seeds that measured it, saying how many when not all
    of the row's did, and marked when the seeds trained it with different recipes (a fine-tuning rerun with
    another optimiser in some of them, say)."""
    measured = [entry for entry in group if (protocol, fraction) in entry.values]
    cell = mean_std([entry.values[(protocol, fraction)] for entry in measured])
    if measured and len(measured) < len(group):
        cell += f" ({len(measured)} of {len(group)} seeds)"
    if len({entry.recipes.get((protocol, fraction)) for entry in measured}) > 1:
        cell += " (mixed recipes)"
    return cell


def rank_cell(group: list[Entry]) -> str:
    collapsed = sum(entry.collapsed for entry in group)
    rank = mean_std([entry.effective_rank for entry in group])
    return f"{rank} (collapsed: {collapsed} of {len(group)} seeds)" if collapsed else rank


def spread_cell(group: list[Entry]) -> str:
    spreads = [entry.spread for entry in group if entry.spread is not None]
    if not spreads:
        return ""
    return f"{np.mean([s[0] for s in spreads]):.3f} / {np.mean([s[1] for s in spreads]):.3f}"


def wall_cell(group: list[Entry]) -> str:
    """The mean wall time of the seeds' pretraining, in minutes."""
    walls = [entry.wall_seconds for entry in group if entry.wall_seconds is not None]
    return f"{np.mean(walls) / 60:.1f}" if walls else ""


def rate_cell(group: list[Entry]) -> str:
    rates = [entry.examples_per_s for entry in group if entry.examples_per_s is not None]
    return f"{np.mean(rates):.0f}" if rates else ""


def anchor_cell(group: list[Entry]) -> str:
    anchor = group[0].anchor if group else None
    if not anchor or anchor.get("top1", -1) <= 0:
        return ""
    protocol = PROTOCOL_TITLES.get(anchor["protocol"], anchor["protocol"])
    return f"{anchor['top1']:.2f} ({protocol}; {anchor['source']})"


def table_rows(entries: list[Entry]) -> tuple[list[rows_lib.Row], list[rows_lib.Setting]]:
    """The table's rows in their order, and the columns of the settings that tell them apart."""
    rows = rows_lib.group_rows(entries)
    columns = rows_lib.setting_columns(rows)
    return rows_lib.ordered(rows, columns), columns


def published_rows(entries: list[Entry], reference=None):
    """(rows, settings, {id(row): its published row or None}): the table's rows in the order of
    `reference` (a reference.Reference) with a row for each published row no run measured, or in their own
    order without one."""
    rows, settings = table_rows(entries)
    arranged = reference_lib.arranged(rows, reference) if reference else [(row, None) for row in rows]
    return [row for row, _ in arranged], settings, {id(row): paper for row, paper in arranged}


def of_rows(columns) -> list[tuple[str, object]]:
    """(title, row -> cell) of columns whose cells are of a row's entries."""
    return [(title, lambda row, cell=cell: cell(row.entries)) for title, cell in columns]


def markdown_table(entries: list[Entry], knn_points=(), reference=None) -> str:
    """The table: one row per group of seeds, the method first, then the settings that tell its rows apart
    (and the run directories of a setting run twice with one seed), backbone, length and batch; the protocol
    columns some row fills, the published row and numbers of `reference` where given, effective rank,
    feature spread, wall time, images/s and the config's anchor (columns no row fills are left out)."""
    rows, settings, published = published_rows(entries, reference)
    summaries = [
        ("effective rank", rank_cell),
        ("feature std mean / min", spread_cell),
        ("pretraining wall time (min)", wall_cell),
        ("images/s", rate_cell),
        ("anchor", anchor_cell),
    ]
    columns = [
        *of_rows(metric_columns([row.entries for row in rows], knn_points)),
        *(reference_lib.paper_columns(reference, published) if reference else []),
        *of_rows(summaries),
    ]
    runs_title = ["runs"] if any(row.repeated_runs for row in rows) else []
    header = ["method", *(setting.title for setting in settings), *runs_title, "backbone", "pretraining"]
    header += ["batch", "seeds", *(title for title, _ in columns)]
    fixed = len(header) - len(columns)
    cells = [
        [
            row.label,
            *(setting.cell(row.settings) for setting in settings),
            *([row.repeated_runs] if runs_title else []),
            *describe_settings(row.settings),
            str(len({entry.seed for entry in row.entries}) or ""),
            *(cell(row) for _, cell in columns),
        ]
        for row in rows
    ]
    keep = [i for i in range(len(header)) if i < fixed or any(line[i] for line in cells)]
    return rows_lib.markdown([header[i] for i in keep], [[line[i] for i in keep] for line in cells])


def comparisons(entries: list[Entry], pairs, reference=None) -> str:
    """The paired comparisons of `pairs` ((row, row), 1-based in the table's order, which `reference`
    sets where given) on each protocol column but kNN's (whose cell is the grid point best on average, not
    each seed's)."""
    rows, settings, _ = published_rows(entries, reference)
    columns = [
        (title_of(protocol) + fraction_title(fraction), (protocol, fraction))
        for protocol, fraction in columns_of([row.entries for row in rows])
        if protocol != "knn"
    ]
    return compare.comparison_tables(rows, settings, pairs, columns)


def curve_runs(entries: list[Entry]) -> dict[str, list[list[dict]]]:
    """{a row in words: the metrics.jsonl lines of each of its seeds} of the rows that trained."""
    rows, settings = table_rows(entries)
    curves = {}
    for row in rows:
        logs = [jsonl.read(entry.training_log) for entry in row.entries if entry.training_log]
        if any(logs):
            curves[rows_lib.described(row, settings)] = [lines for lines in logs if lines]
    return curves


def report(patterns, output: str = "", curves: str = "", knn_points=(), pairs=(), reference=None) -> str:
    """The markdown table of the runs named by `patterns`, written to `output` (if given) and returned; with
    `curves`, a PNG of their training curves, one colour per row; knn_points: (k, T) pairs shown instead of
    the grid's best; pairs: (row, row) pairs compared seed by seed below the table; reference: a
    reference.Reference, a paper's published table that orders the rows and adds its numbers."""
    directories = run_directories(patterns)
    entries = [entry for directory in directories for entry in entries_of(directory)]
    text = markdown_table(entries, knn_points, reference)
    if pairs:
        text += "\n" + comparisons(entries, pairs, reference)
    if output:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        with open(output, "w") as f:
            f.write(text)
    if curves:
        plots.curves_plot(curve_runs(entries), curves)
    return text
