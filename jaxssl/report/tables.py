r"""A paper-style table from run directories: python -m jaxssl.report RUN_DIR_OR_GLOB... [--output=FILE.md]
[--curves=FILE.png] [--knn=20/0.07,200/0.07] [--export=DIR] [--compare=ROW:ROW,...].

The entries of each run directory (runs.py: one per representation it evaluated, the pretrained
network, the untrained one, raw pixels, supervised training) that differ only in their seed form one row,
mean ± sample standard deviation (ddof 1) over the seeds; rows of one representation that differ in a
setting (a sweep) name the settings that differ. Two directories of the same settings and seed (a rerun
after a code change, say) are never averaged: each repeat is its own row, named by its directories. Every
number is a top-1 accuracy in %, except the effective rank (marked when the health protocol found a seed's
representation collapsed). --compare=2:1 adds the paired differences, seed by seed, of row 2 against row 1
on every protocol both measured (jaxssl/compare.py: mean ± std, paired t and its two-sided p).
"""

import collections
import os

import numpy as np

from jaxssl.report import compare, plots
from jaxssl.report.runs import Entry, entries_of, run_directories
from jaxssl.rundir import files, jsonl

PROTOCOL_TITLES = {
    "classifier": "own classifier",
    "online_probe": "online probe",
    "linear_sgd": "linear (SGD)",
    "linear_lbfgs": "linear (L-BFGS)",
    "knn": "kNN best",
    "finetune": "fine-tune",
}


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


def columns_of(groups) -> list[tuple[str, float]]:
    """(protocol, fraction) columns some row has: the whole label set first, then the fractions ascending."""
    present = {key for group in groups for entry in group for key in entry.values}
    fractions = sorted({fraction for _, fraction in present}, key=lambda f: (f != 1.0, f))
    layers = list(
        dict.fromkeys(p for group in groups for e in group for p, _ in e.values if p.startswith("layer "))
    )
    return [
        (protocol, f)
        for f in fractions
        for protocol in (*PROTOCOL_TITLES, *layers)
        if (protocol, f) in present
    ]


def title_of(protocol: str) -> str:
    """A column's title: the protocol's, or "linear <layer>" for a per-layer probe."""
    return PROTOCOL_TITLES.get(protocol, protocol.replace("layer ", "linear ", 1))


def describe_settings(settings: dict) -> tuple[str, str, str]:
    """(backbone, pretraining, batch) cells of a row."""
    width = settings.get("model.width_multiplier")
    name = settings.get("model.backbone")
    backbone = "–" if name is None else name + (f" x{width:g}" if width not in (None, 1.0) else "")
    epochs, steps = settings.get("train.epochs"), settings.get("train.steps")
    if steps is not None and steps >= 0:
        pretraining = f"{steps} steps"
    elif epochs is not None and epochs >= 0:
        pretraining = f"{epochs:g} epochs"
    else:
        pretraining = "–"
    batch = settings.get("train.batch_size")
    return backbone, pretraining, "–" if batch is None else str(batch)


def group_entries(entries: list[Entry]) -> dict:
    """{(label, frozen settings, repeat): entries} in first-seen order, where `repeat` counts the earlier
    entries of the same label, settings and seed: a seed run twice goes to a second group, not into a mean."""
    groups = collections.OrderedDict()
    seen = collections.Counter()
    for entry in entries:
        settings = tuple(sorted(entry.settings.items()))
        repeat = seen[(entry.label, settings, entry.seed)]
        seen[(entry.label, settings, entry.seed)] += 1
        groups.setdefault((entry.label, settings, repeat), []).append(entry)
    return groups


def row_names(groups) -> list[str]:
    """Each group's label, followed by the settings that differ between groups of the same label, and by its
    run directories when the same settings were run more than once with one seed."""
    names = []
    for (label, settings, _), group in groups.items():
        rivals = [dict(other) for other_label, other, _ in groups if other_label == label]
        differing = sorted(
            key for key in dict(settings) if len({str(rival.get(key)) for rival in rivals}) > 1
        )
        details = [f"{key}={dict(settings)[key]}" for key in differing]
        if any(
            repeat > 0 for other_label, other, repeat in groups if (other_label, other) == (label, settings)
        ):
            details.append("runs " + ", ".join(entry.run for entry in group))
        names.append(f"{label} ({'; '.join(details)})" if details else label)
    return names


def format_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.1f} min"


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
    walls = [entry.wall_seconds for entry in group if entry.wall_seconds is not None]
    return format_seconds(float(np.mean(walls))) if walls else ""


def rate_cell(group: list[Entry]) -> str:
    rates = [entry.examples_per_s for entry in group if entry.examples_per_s is not None]
    return f"{np.mean(rates):.0f}" if rates else ""


def anchor_cell(group: list[Entry]) -> str:
    anchor = group[0].anchor
    if not anchor or anchor.get("top1", -1) <= 0:
        return ""
    protocol = PROTOCOL_TITLES.get(anchor["protocol"], anchor["protocol"])
    return f"{anchor['top1']:.2f} ({protocol}; {anchor['source']})"


def markdown_table(entries: list[Entry], knn_points=()) -> str:
    """The table: one row per group of seeds; the protocol columns some row fills, effective rank, feature
    spread, wall time, images/s and the config's anchor (columns no row fills are left out)."""
    groups = group_entries(entries)
    columns = metric_columns(groups.values(), knn_points) + [
        ("effective rank", rank_cell),
        ("feature std mean / min", spread_cell),
        ("pretraining wall time", wall_cell),
        ("images/s", rate_cell),
        ("anchor", anchor_cell),
    ]
    header = ["representation", "backbone", "pretraining", "batch", "seeds"] + [title for title, _ in columns]
    rows = []
    for name, ((_, settings, _), group) in zip(row_names(groups), groups.items(), strict=True):
        cells = [name, *describe_settings(dict(settings)), str(len({entry.seed for entry in group}))]
        rows.append(cells + [cell(group) for _, cell in columns])
    keep = [i for i in range(len(header)) if i < 5 or any(row[i] for row in rows)]
    lines = ["| " + " | ".join(header[i] for i in keep) + " |", "|" + "---|" * len(keep)]
    lines += ["| " + " | ".join(row[i] or "–" for i in keep) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def comparisons(entries: list[Entry], pairs) -> str:
    """The paired comparisons of `pairs` ((row, row), 1-based in the table's order) on each protocol column
    but kNN's (whose cell is the grid point best on average, not each seed's)."""
    groups = group_entries(entries)
    columns = [
        (title_of(protocol) + fraction_title(fraction), (protocol, fraction))
        for protocol, fraction in columns_of(groups.values())
        if protocol != "knn"
    ]
    return compare.comparison_table(list(groups.values()), row_names(groups), pairs, columns)


def report(patterns, output: str = "", curves: str = "", knn_points=(), pairs=()) -> str:
    """The markdown table of the runs named by `patterns`, written to `output` (if given) and returned; with
    `curves`, a PNG of their training curves; knn_points: (k, T) pairs shown instead of the grid's best;
    pairs: (row, row) pairs compared seed by seed below the table."""
    directories = run_directories(patterns)
    entries = [entry for directory in directories for entry in entries_of(directory)]
    text = markdown_table(entries, knn_points)
    if pairs:
        text += "\n" + comparisons(entries, pairs)
    if output:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        with open(output, "w") as f:
            f.write(text)
    if curves:
        logged = {
            os.path.basename(os.path.normpath(d)): jsonl.read(os.path.join(d, files.METRICS))
            for d in directories
        }
        plots.curves_plot({name: lines for name, lines in logged.items() if lines}, curves)
    return text
