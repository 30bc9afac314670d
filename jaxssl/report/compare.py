"""Paired comparisons of two report rows, seed by seed: is one row's gain over another more than its seeds
scatter? (python -m jaxssl.report RUNS... --compare=2:1 compares the table's row 2 with its row 1.)

Runs of the same seed share what the seed draws (the initial weights, the batches' order, the augmentations'
keys), so the difference d_s = a_s - b_s of two rows at seed s removes what the seed moves in both. Over the
n seeds the two rows share, the paired t statistic is t = mean(d) / (std(d, ddof=1) / sqrt(n)) with n - 1
degrees of freedom (Student 1908; any statistics text's paired t-test), and p is its two-sided tail
probability: the chance of a mean difference at least that far from 0 if the rows did not differ.
"""

import math

import numpy as np
from scipy import stats

from jaxssl.report.runs import Entry


def parse_pairs(specs) -> tuple[tuple[int, int], ...]:
    """["2:1", "3:1"] -> ((2, 1), (3, 1)): 1-based table rows, the first compared with the second."""
    pairs = []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) != 2 or not all(part.strip().isdigit() and int(part) >= 1 for part in parts):
            raise ValueError(f"--compare takes ROW:ROW pairs of 1-based table rows (2:1), got {spec!r}")
        first, second = (int(part) for part in parts)
        if first == second:
            raise ValueError(f"--compare {spec!r} compares a row with itself")
        pairs.append((first, second))
    return tuple(pairs)


def paired_difference(first: dict, second: dict) -> dict:
    """{seed: value} of two rows -> n (seeds both have), mean and std (ddof 1) of the differences first -
    second, the paired t statistic and its two-sided p (t and p None below two seeds or with no scatter)."""
    seeds = sorted(set(first) & set(second))
    differences = np.array([first[seed] - second[seed] for seed in seeds], np.float64)
    n = len(seeds)
    mean = float(np.mean(differences)) if n else math.nan
    std = float(np.std(differences, ddof=1)) if n > 1 else math.nan
    t = p = None
    if n > 1 and std > 0:
        t = mean / (std / math.sqrt(n))
        p = float(2 * stats.t.sf(abs(t), df=n - 1))
    return {"seeds": n, "mean": mean, "std": std, "t": t, "p": p}


def values_by_seed(group: list[Entry], key: tuple[str, float]) -> dict:
    """{seed: top-1 in %} of one protocol and label fraction over a row's seeds that measured it."""
    return {entry.seed: entry.values[key] for entry in group if key in entry.values}


def difference_cell(result: dict) -> str:
    if result["seeds"] == 1:
        return f"{result['mean']:+.2f}"
    return f"{result['mean']:+.2f} ± {result['std']:.2f}"


def comparison_table(groups: list[list[Entry]], names: list[str], pairs, columns) -> str:
    """A markdown table of each pair's paired differences on every (protocol, fraction) of `columns` (with
    their titles) that both rows measured at a seed they share; a pair without one says so in one line."""
    lines = [
        "| row | compared with | protocol | paired seeds | difference | t | p (two-sided) |",
        "|---|---|---|---|---|---|---|",
    ]
    for first, second in pairs:
        if max(first, second) > len(groups):
            raise ValueError(f"--compare {first}:{second}: the table has {len(groups)} rows")
        a, b = groups[first - 1], groups[second - 1]
        rows = [f"{first}. {names[first - 1]}", f"{second}. {names[second - 1]}"]
        compared = 0
        for title, key in columns:
            result = paired_difference(values_by_seed(a, key), values_by_seed(b, key))
            if not result["seeds"]:
                continue
            compared += 1
            t = "–" if result["t"] is None else f"{result['t']:.2f}"
            p = "–" if result["p"] is None else f"{result['p']:.3g}"
            cells = [*rows, title, str(result["seeds"]), difference_cell(result), t, p]
            lines.append("| " + " | ".join(cells) + " |")
        if not compared:
            lines.append(
                "| " + " | ".join([*rows, "–", "0", "no protocol at a seed both ran", "–", "–"]) + " |"
            )
    return "\n".join(lines) + "\n"
