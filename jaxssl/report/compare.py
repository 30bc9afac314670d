"""Paired comparisons of report rows, seed by seed: is one row's gain over another more than its seeds
scatter? (python -m jaxssl.report RUNS... --compare=2:1 compares the table's row 2 with its row 1.)

Runs of the same seed share what the seed draws (the initial weights, the batches' order, the augmentations'
keys), so the difference d_s = a_s - b_s of two rows at seed s removes what the seed moves in both. Over the
n seeds the two rows share, the paired t statistic is t = mean(d) / (std(d, ddof=1) / sqrt(n)) with n - 1
degrees of freedom (Student 1908; any statistics text's paired t-test), and p is its two-sided tail
probability: the chance of a mean difference at least that far from 0 if the rows did not differ.

Pairs that compare the same methods at several values of one setting (FixMatch against the supervised
baseline at each label count, say) are shown as a matrix: a line per value, a column per comparison.

A pair may name a column of the table for each row, "5[own classifier]:2[fine-tune 1 %]": the one number
each row reports for a task measured by different protocols (a distilled student's own classifier against
its fine-tuned teacher's fine-tuning on the same labels), compared seed by seed in a table of such pairs.
"""

import math
import re
from typing import NamedTuple

import numpy as np
from scipy import stats

from jaxssl.report.rows import Row, Setting, distinguished, markdown
from jaxssl.report.runs import Entry


class Pair(NamedTuple):
    """Two 1-based table rows, the first compared with the second; on every protocol both measured, or on the
    named column of each (first_column, second_column: column titles of the table)."""

    first: int
    second: int
    first_column: str = ""
    second_column: str = ""


SIDE = r"\s*([1-9]\d*)\s*(?:\[([^\]]+)\])?\s*"


def parse_pairs(specs) -> tuple[Pair, ...]:
    """["2:1", "5[own classifier]:2[fine-tune 1 %]"] -> Pair(2, 1), Pair(5, 2, "own classifier",
    "fine-tune 1 %"): 1-based table rows, the first compared with the second, each with the column it is
    compared on where one is named (a column named on one side only is the other's too)."""
    pairs = []
    for spec in specs:
        match = re.fullmatch(SIDE + ":" + SIDE, spec)
        if match is None:
            raise ValueError(
                f"--compare takes ROW:ROW pairs of 1-based table rows (2:1), each row optionally with the column "
                f"it is compared on (5[own classifier]:2[fine-tune 1 %]), got {spec!r}"
            )
        first, first_column, second, second_column = match.groups()
        first_column, second_column = first_column or second_column or "", second_column or first_column or ""
        if first == second and first_column == second_column:
            raise ValueError(f"--compare {spec!r} compares a row with itself")
        pairs.append(Pair(int(first), int(second), first_column.strip(), second_column.strip()))
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
    first, second = (distinguished(rows[index], rows, settings, leave_out) for index in pair)
    return f"{first} − {second}"


def pair_values(rows: list[Row], pair, key: tuple[str, float]) -> tuple[dict, dict]:
    return tuple(values_by_seed(rows[index].entries, key) for index in pair)


def comparison_tables(rows: list[Row], settings: list[Setting], pairs, columns) -> str:
    """Markdown tables of the pairs' paired differences (first row minus second): of the pairs without named
    columns, on every (protocol, fraction) of `columns` (title, key) that both rows of some pair measured
    (protocol_tables); then of the pairs with named columns, one line each (named_column_table)."""
    pairs = [Pair(*pair) for pair in pairs]
    for pair in pairs:
        if max(pair.first, pair.second) > len(rows):
            raise ValueError(f"--compare {pair.first}:{pair.second}: the table has {len(rows)} rows")
        for index in (pair.first, pair.second):
            if not rows[index - 1].entries:
                raise ValueError(
                    f"--compare {pair.first}:{pair.second}: row {index} is a paper's row that no run measured"
                )
    titles = dict(columns)
    for pair in pairs:
        for title in (pair.first_column, pair.second_column):
            if title and title not in titles:
                raise ValueError(
                    f"--compare {pair.first}[{title}]: the table has no column {title!r}; its columns are "
                    f"{', '.join(repr(t) for t in titles)}"
                )
    plain = [(pair.first - 1, pair.second - 1) for pair in pairs if not pair.first_column]
    named = [pair for pair in pairs if pair.first_column]
    tables = [protocol_tables(rows, settings, plain, columns)] if plain else []
    if named:
        tables.append(named_column_table(rows, settings, named, titles))
    return "\n".join(tables)


def named_column_table(rows: list[Row], settings: list[Setting], pairs: list[Pair], titles: dict) -> str:
    """A line per pair: each row with the column it is compared on, and their paired difference."""
    lines = []
    for pair in pairs:
        first, second = rows[pair.first - 1], rows[pair.second - 1]
        named = f"{distinguished(first, rows, settings)} ({pair.first_column}) − "
        named += f"{distinguished(second, rows, settings)} ({pair.second_column})"
        cell = difference_cell(
            values_by_seed(first.entries, titles[pair.first_column]),
            values_by_seed(second.entries, titles[pair.second_column]),
        )
        lines.append([named, cell])
    return markdown(["compared", "paired difference"], lines)


def protocol_tables(rows: list[Row], settings: list[Setting], pairs, columns) -> str:
    """The paired differences of `pairs` ((row, row), 0-based) on every (protocol, fraction) that both rows
    of some pair measured. Where the pairs compare rows at several values of one setting (label counts), one
    matrix per protocol: a line per value, a column per comparison; else one table: a line per pair, a
    column per protocol."""
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
