r"""A paper-style table from run directories: python -m jaxssl.report RUN_DIR_OR_GLOB... [--output=FILE.md]
[--curves=FILE.png] [--knn=20/0.07,200/0.07].

Each run directory holds what training and evaluation wrote: config.json and metrics.jsonl (the online probe,
the wall time and images/s of the "run" lines) and offline_eval.jsonl (one line per protocol; the newest line
of each protocol and label fraction counts). A directory gives one entry per representation it evaluated:
the pretrained network (its method), the untrained network ("random init"), raw pixels, and the network
fine-tuned from a random initialisation ("supervised"). Entries that differ only in their seed form one row,
mean ± sample standard deviation (ddof 1) over the seeds; rows of one representation that differ in a
setting (a sweep) name the settings that differ. Two directories of the same settings and seed (a rerun
after a code change, say) are never averaged: each repeat is its own row, named by its directories. Every
number is a top-1 accuracy in %, except the effective rank (marked when the health protocol found a seed's
representation collapsed).
"""

import collections
import dataclasses
import glob
import json
import os

import numpy as np
from absl import app, flags

from jaxssl import plots

PROTOCOL_TITLES = {
    "online_probe": "online probe",
    "linear_sgd": "linear (SGD)",
    "linear_lbfgs": "linear (L-BFGS)",
    "knn": "kNN best",
    "finetune": "fine-tune",
}
# Settings that say how a run was watched or stored, not what it learned: never a reason for two rows.
IGNORED_SETTINGS = (
    "seed",
    "eval.",
    "checkpoint.",
    "log_every_steps",
    "data.manual_dir",
    "data.data_dir",
    "data.download",
    "data.prefetch",
    "anchor.",
    "linear_sgd.",
    "finetune.",
)


@dataclasses.dataclass
class Entry:
    """One representation of one run directory: what it is, its settings, its seed and its numbers.

    values: {(protocol, label fraction): top-1 in %}; knn_grids: {label fraction: {(k, T): top-1 in %}};
    spread: (mean, smallest) per-dimension std of the normalised eval features."""

    label: str
    settings: dict
    seed: int
    values: dict
    run: str = ""
    knn_grids: dict = dataclasses.field(default_factory=dict)
    effective_rank: float | None = None
    collapsed: bool = False
    spread: tuple[float, float] | None = None
    wall_seconds: float | None = None
    examples_per_s: float | None = None
    anchor: dict | None = None


def read_jsonl(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists become tuples (hashable)."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = tuple(value) if isinstance(value, list) else value
    return flat


def run_directories(patterns) -> list[str]:
    """The run directories named by paths or glob patterns, sorted; a name that matches none is an error."""
    found = []
    for pattern in patterns:
        matches = sorted(path for path in glob.glob(pattern) if os.path.isdir(path))
        runs = [path for path in matches if is_run_directory(path)]
        if not runs:
            raise FileNotFoundError(
                f"{pattern!r} names no run directory (one holding config.json, metrics.jsonl or offline_eval.jsonl)"
            )
        found.extend(runs)
    return sorted(dict.fromkeys(found))


def is_run_directory(path: str) -> bool:
    return any(
        os.path.exists(os.path.join(path, name))
        for name in ("config.json", "metrics.jsonl", "offline_eval.jsonl")
    )


def training_summary(lines: list[dict]) -> dict:
    """Online probe top-1 (%) at the last evaluation, and the pretraining's wall time and images/s summed over
    its "run" lines (one per command that trained)."""
    summary = {}
    evals = [line for line in lines if line.get("split") == "eval" and "linear_top1" in line]
    if evals:
        summary["online_probe"] = 100.0 * max(evals, key=lambda line: line["step"])["linear_top1"]
    runs = [line for line in lines if line.get("split") == "run"]
    if runs:
        seconds = sum(line["seconds"] for line in runs)
        summary["wall_seconds"] = seconds
        summary["examples_per_s"] = sum(line["examples_per_s"] * line["seconds"] for line in runs) / seconds
    return summary


def representation(record: dict, method: str) -> str:
    """What a record evaluated: the pretrained method, the untrained network, pixels, or supervised training."""
    if record.get("features") == "pixels":
        return "raw pixels"
    if record.get("init") == "random":
        return "supervised" if record["protocol"] == "finetune" else "random init"
    return method


def legacy_records(record: dict) -> list[dict]:
    """A line of the first offline evaluation (before protocols: kNN at k = 20 and 200 and the L-BFGS probe
    in one line) as the records of the protocols it holds."""
    if "protocol" in record or "linear_top1" not in record:
        return [record]
    t = record["knn_temperature"]
    grid = {f"{k}/{t}": record[f"knn_top1_k{k}"] for k in (20, 200) if f"knn_top1_k{k}" in record}
    spread = {name: record[name] for name in ("feature_std_mean", "feature_std_min") if name in record}
    return [
        {**record, "protocol": "linear_lbfgs", "top1": record["linear_top1"]},
        {**record, "protocol": "knn", "top1": max(grid.values()), "grid": {"backbone": grid}},
        {**record, "protocol": "health", "spaces": {"backbone": spread}},
    ]


def newest_records(records: list[dict]) -> dict:
    """{(representation kind, protocol, label fraction): the newest record} (later lines win)."""
    newest = {}
    for record in (upgraded for line in records for upgraded in legacy_records(line)):
        kind = (record.get("features"), record.get("init"))
        newest[(kind, record["protocol"], float(record.get("label_fraction", 1.0)))] = record
    return newest


def entries_of(run_dir: str) -> list[Entry]:
    """The entries of one run directory."""
    config = {}
    if os.path.exists(os.path.join(run_dir, "config.json")):
        with open(os.path.join(run_dir, "config.json")) as f:
            config = json.load(f)
    records = read_jsonl(os.path.join(run_dir, "offline_eval.jsonl"))
    summary = training_summary(read_jsonl(os.path.join(run_dir, "metrics.jsonl")))
    first = records[0] if records else {}
    method = config.get("method", {}).get("name") or first.get("method", "?")
    settings = {k: v for k, v in flatten(config).items() if not k.startswith(IGNORED_SETTINGS)}
    seed = config.get("seed", first.get("seed", 0))
    by_label = {}

    def entry(label):
        if label not in by_label:
            pretrained = label == method
            by_label[label] = Entry(
                label=label,
                settings=settings if pretrained else record_settings(first, config, label),
                seed=seed,
                values={},
                run=os.path.basename(os.path.normpath(run_dir)),
                anchor=config.get("anchor") if pretrained else None,
            )
        return by_label[label]

    if summary:
        pretrained = entry(method)
        if "online_probe" in summary:
            pretrained.values[("online_probe", 1.0)] = summary["online_probe"]
        pretrained.wall_seconds = summary.get("wall_seconds")
        pretrained.examples_per_s = summary.get("examples_per_s")
    for (_, protocol, fraction), record in newest_records(records).items():
        target = entry(representation(record, method))
        if protocol == "health":
            backbone = record["spaces"]["backbone"]
            target.effective_rank = backbone.get("effective_rank")
            target.collapsed = bool(record.get("collapsed", False))
            if "feature_std_mean" in backbone:
                target.spread = (backbone["feature_std_mean"], backbone["feature_std_min"])
        elif "top1" in record:
            target.values[(protocol, fraction)] = 100.0 * record["top1"]
            if protocol == "knn":
                target.knn_grids[fraction] = {
                    grid_point(key): 100.0 * value for key, value in record["grid"]["backbone"].items()
                }
    return list(by_label.values())


def grid_point(key: str) -> tuple[int, float]:
    """ "20/0.07" -> (20, 0.07)."""
    k, t = key.split("/")
    return int(k), float(t)


def record_settings(record: dict, config: dict, label: str) -> dict:
    """The settings of a baseline entry: the dataset, and the network it used (the run's config, else the
    record's header) unless it is raw pixels."""
    dataset = {"data.dataset": config.get("data", {}).get("dataset", record.get("dataset"))}
    if label == "raw pixels":
        return dataset
    model = config.get("model", {})
    return {
        "model.backbone": model.get("backbone", record.get("backbone")),
        "model.width_multiplier": model.get("width_multiplier", record.get("width_multiplier")),
        **dataset,
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
    return f"{mean_std([grid[best] for grid in grids])} (k={best[0]}, T={best[1]:g})"


def fraction_title(fraction: float) -> str:
    return "" if fraction == 1.0 else f" {fraction * 100:g} %"


def columns_of(groups) -> list[tuple[str, float]]:
    """(protocol, fraction) columns some row has: the whole label set first, then the fractions ascending."""
    present = {key for group in groups for entry in group for key in entry.values}
    fractions = sorted({fraction for _, fraction in present}, key=lambda f: (f != 1.0, f))
    return [(protocol, f) for f in fractions for protocol in PROTOCOL_TITLES if (protocol, f) in present]


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
                (
                    PROTOCOL_TITLES[protocol] + suffix,
                    lambda g, p=protocol, f=fraction: mean_std([e.values.get((p, f)) for e in g]),
                )
            )
    return columns


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


def report(patterns, output: str = "", curves: str = "", knn_points=()) -> str:
    """The markdown table of the runs named by `patterns`, written to `output` (if given) and returned; with
    `curves`, a PNG of their training curves; knn_points: (k, T) pairs shown instead of the grid's best."""
    directories = run_directories(patterns)
    entries = [entry for directory in directories for entry in entries_of(directory)]
    text = markdown_table(entries, knn_points)
    if output:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        with open(output, "w") as f:
            f.write(text)
    if curves:
        logged = {
            os.path.basename(os.path.normpath(d)): read_jsonl(os.path.join(d, "metrics.jsonl"))
            for d in directories
        }
        plots.curves_plot({name: lines for name, lines in logged.items() if lines}, curves)
    return text


_OUTPUT = flags.DEFINE_string("output", "", "Also write the markdown table to this file.")
_CURVES = flags.DEFINE_string("curves", "", "Also draw the runs' training curves into this PNG.")
_KNN = flags.DEFINE_list(
    "knn", [], "kNN grid points k/T shown as columns (e.g. 20/0.07,200/0.07) instead of the best."
)


def main(argv):
    if len(argv) < 2:
        raise app.UsageError("name at least one run directory or glob: python -m jaxssl.report runs/*")
    points = tuple(grid_point(point) for point in _KNN.value)
    print(report(argv[1:], output=_OUTPUT.value, curves=_CURVES.value, knn_points=points), end="")


if __name__ == "__main__":
    app.run(main)
