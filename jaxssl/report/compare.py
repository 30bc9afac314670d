"""Paired comparisons of report rows, seed by seed: is one row's gain over another more than its seeds
scatter? (python -m jaxssl.report RUNS... --compare=2:1 compares the table's row 2 with its row 1.)

Runs of the same seed share what the seed draws (the initial weights, the batches' order, the augmentations'
keys), so the difference d_s = a_s - b_s of two rows at seed s removes what the seed moves in both. Over the
n seeds the two rows share, the paired t statistic is t = mean(d) / (std(d, ddof=1) / sqrt(n)) with n - 1
degrees of freedom (Student 1908; any statistics text's paired t-test), and p is its two-sided tail
probability: the chance of a mean difference at least that far from 0 if the rows did not differ.

Pairs that compare the same methods at several values of one setting (FixMatch against the supervised
baseline at each label count, say) are shown as a matrix: a line per value, a column per comparison.
"""

import math

import numpy as np
from scipy import stats

from jaxssl.report.rows import Row, Setting, described, markdown
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


def difference_cell(first: dict, second: dict) -> str:
    """The paired difference of two rows' {seed: value} in words: mean ± std (n, t, p), "–" when either row
    has no value, or that they share no seed."""
    if not first or not second:
        return "–"
    result = paired_difference(first, second)
    if not result["seeds"]:
        return "no seed in common"
    if result["seeds"] == 1:
        return f"{result['mean']:+.2f} (n = 1)"
    if result["t"] is None:
        return f"{result['mean']:+.2f} ± {result['std']:.2f} (n = {result['seeds']})"
    return (
        f"{result['mean']:+.2f} ± {result['std']:.2f} "
        f"(n = {result['seeds']}, t = {result['t']:.2f}, p = {result['p']:.3g})"
    )


def matrix_setting(rows: list[Row], settings: list[Setting], pairs) -> Setting | None:
    """The setting column that both rows of every pair share and the pairs do not all share (the label
    count of rows compared at each label count), or None."""
    for setting in settings:
        cells = [(setting.cell(rows[a].settings), setting.cell(rows[b].settings)) for a, b in pairs]
        if all(a == b != "" for a, b in cells) and len(set(cells)) > 1:
            return setting
    return None


def contrast(rows: list[Row], settings: list[Setting], pair, leave_out: str = "") -> str:
    """A pair of rows in words, the first minus the second, without the setting `leave_out`."""
    first, second = (described(rows[index], settings, leave_out) for index in pair)
    return f"{first} − {second}"


def pair_values(rows: list[Row], pair, key: tuple[str, float]) -> tuple[dict, dict]:
    return tuple(values_by_seed(rows[index].entries, key) for index in pair)


def comparison_tables(rows: list[Row], settings: list[Setting], pairs, columns) -> str:
    """Markdown tables of each pair's paired differences (first row minus second) on every (protocol,
    fraction) of `columns` (title, key) that both rows of some pair measured. Where the pairs compare rows at
    several values of one setting (label counts), one matrix per protocol: a line per value, a column per
    comparison; else one table: a line per pair, a column per protocol."""
    for first, second in pairs:
        if max(first, second) > len(rows):
            raise ValueError(f"--compare {first}:{second}: the table has {len(rows)} rows")
    pairs = [(first - 1, second - 1) for first, second in pairs]
    measured = [(title, key) for title, key in columns if any(all(pair_values(rows, p, key)) for p in pairs)]
    axis = matrix_setting(rows, settings, pairs)
    if not measured:
        lines = [[contrast(rows, settings, pair), "no protocol that both rows measured"] for pair in pairs]
        return markdown(["compared", "paired difference"], lines)
    if axis is None:
        lines = [
            [
                contrast(rows, settings, pair),
                *(difference_cell(*pair_values(rows, pair, k)) for _, k in measured),
            ]
            for pair in pairs
        ]
        return markdown(["compared", *(title for title, _ in measured)], lines)
    place = {
        pair: (axis.cell(rows[pair[0]].settings), contrast(rows, settings, pair, axis.title))
        for pair in pairs
    }
    values = list(dict.fromkeys(place[pair][0] for pair in sorted(pairs)))
    contrasts = list(dict.fromkeys(name for _, name in place.values()))
    tables = []
    for title, key in measured:
        cells = {place[pair]: difference_cell(*pair_values(rows, pair, key)) for pair in pairs}
        lines = [[value, *(cells.get((value, name), "–") for name in contrasts)] for value in values]
        tables.append(markdown([f"{title}: {axis.title}", *contrasts], lines))
    return "\n".join(tables)
