"""The table and figure of active-learning loops (jaxssl/active/loop.py): for each encoder and strategy, the
linear probe's test top-1 at each label count, mean ± std over the seeds, and each strategy's paired
difference from random labels of the same seeds (compare.paired_difference). Read from the loops' kept
records alone: ROOT/*/loop.json and round_<r>.json."""

import glob
import json
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxssl.report.compare import difference_cell  # noqa: E402
from jaxssl.report.rows import markdown  # noqa: E402
from jaxssl.report.tables import mean_std  # noqa: E402

BASELINE = "random"
# The rows' order within an encoder: the baseline, the probe's scores, the committee, the coverage rules.
STRATEGY_ORDER = (
    "random",
    "least_confidence",
    "margin",
    "entropy",
    "vote_entropy",
    "kcenter",
    "typiclust",
    "probcover",
)


def read_loops(root: str) -> list[tuple[dict, list[dict]]]:
    """(loop.json, its rounds in order) of every loop directory under `root`, in directory order; FileNotFoundError
    when there is none."""
    loops = []
    for path in sorted(glob.glob(os.path.join(root, "*", "loop.json"))):
        directory = os.path.dirname(path)
        with open(path) as f:
            loop = json.load(f)
        rounds = []
        while os.path.exists(os.path.join(directory, f"round_{len(rounds)}.json")):
            with open(os.path.join(directory, f"round_{len(rounds)}.json")) as f:
                rounds.append(json.load(f))
        loops.append((loop, rounds))
    if not loops:
        raise FileNotFoundError(f"{root} holds no active-learning loop (no {root}/*/loop.json)")
    return loops


def row_name(loop: dict) -> str:
    """'simclr, typiclust' (with 'from <rule>' when round 0's rule is not the strategy's default)."""
    default = loop["strategy"] if loop["strategy"] in ("random", "typiclust", "probcover") else "random"
    start = "" if loop["initial"] == default else f" from {loop['initial']}"
    return f"{loop['method']}, {loop['strategy']}{start}"


def loop_order(item) -> tuple:
    """Loops by encoder (as first read), then STRATEGY_ORDER (others after, by name), round 0's rule, seed."""
    loop, _ = item
    strategy = loop["strategy"]
    rank = STRATEGY_ORDER.index(strategy) if strategy in STRATEGY_ORDER else len(STRATEGY_ORDER)
    return rank, strategy, loop["initial"], loop["seed"]


def accuracies(loops) -> dict[str, dict[int, dict[int, float]]]:
    """{row name: {labels: {seed: test top-1 in %}}}, rows by encoder, then strategy (loop_order)."""
    encoders = list(dict.fromkeys(loop["method"] for loop, _ in loops))
    ordered = sorted(loops, key=lambda item: (encoders.index(item[0]["method"]), *loop_order(item)))
    table = {}
    for loop, rounds in ordered:
        by_labels = table.setdefault(row_name(loop), {})
        for record in rounds:
            by_labels.setdefault(record["labelled"], {})[loop["seed"]] = 100 * record["test_top1"]
    return table


def baseline_of(name: str) -> str:
    return f"{name.split(',')[0]}, {BASELINE}"


def paired_cell(values: dict, baseline: dict) -> str:
    """compare.difference_cell, or "same labels" where every seed measured the same value (a strategy's
    round 0 is random's own rows)."""
    if values and values == baseline:
        return "same labels"
    return difference_cell(values, baseline)


def markdown_tables(loops) -> str:
    """The accuracy table (mean ± std over seeds, seeds counted) and the paired differences from random."""
    table = accuracies(loops)
    counts = sorted({labels for row in table.values() for labels in row})
    header = ["encoder, strategy", "seeds", *(f"{labels} labels" for labels in counts)]
    lines = [
        [
            name,
            str(max(len(seeds) for seeds in row.values())),
            *(mean_std(list(row.get(c, {}).values())) for c in counts),
        ]
        for name, row in table.items()
    ]
    text = markdown(header, lines)
    differences = [
        [name, *(paired_cell(row.get(c, {}), table[baseline_of(name)].get(c, {})) for c in counts)]
        for name, row in table.items()
        if baseline_of(name) in table and name != baseline_of(name)
    ]
    if differences:
        text += "\nPaired difference from random labels of the same seeds (points; paired t-test):\n\n"
        text += markdown(["encoder, strategy", *(f"{labels} labels" for labels in counts)], differences)
    return text


def accuracy_figure(loops, path: str, title: str) -> str:
    """Test top-1 against the number of labels (log scale), one panel per encoder, one line per strategy (the
    mean over seeds, each seed a faint line; random dashed black)."""
    table = accuracies(loops)
    encoders = list(dict.fromkeys(name.split(",")[0] for name in table))
    figure, axes = plt.subplots(
        1, len(encoders), figsize=(6 * len(encoders), 4.5), squeeze=False, sharey=True
    )
    colours = plt.get_cmap("tab10")
    strategies = list(dict.fromkeys(name.split(", ", 1)[1] for name in table))
    label_counts = sorted({count for row in table.values() for count in row})
    for axis, encoder in zip(axes[0], encoders, strict=True):
        for name, row in table.items():
            if not name.startswith(f"{encoder},"):
                continue
            strategy = name.split(", ", 1)[1]
            baseline = strategy == BASELINE
            colour = "black" if baseline else colours(strategies.index(strategy) % colours.N)
            counts = sorted(row)
            seeds = sorted({seed for values in row.values() for seed in values})
            for seed in seeds:
                points = [(c, row[c][seed]) for c in counts if seed in row[c]]
                axis.plot(*zip(*points, strict=True), color=colour, alpha=0.25, linewidth=0.8)
            means = [np.mean(list(row[c].values())) for c in counts]
            axis.plot(
                counts,
                means,
                color=colour,
                marker="o",
                markersize=3,
                label=strategy,
                linewidth=1.6,
                linestyle="--" if baseline else "-",
            )
        axis.set_xscale("log", base=2)
        axis.set_xticks(label_counts, [str(count) for count in label_counts])
        axis.minorticks_off()
        axis.set_xlabel("labelled examples")
        axis.set_ylabel("linear probe test top-1 (%)")
        axis.set_title(encoder, fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def report(root: str, figure: str = "", title: str = "") -> str:
    """The markdown tables of the loops under `root`; with `figure`, also accuracy_figure there."""
    loops = read_loops(root)
    if figure:
        accuracy_figure(
            loops, figure, title or f"{loops[0][0]['dataset']}: active learning on frozen features"
        )
    return markdown_tables(loops)
