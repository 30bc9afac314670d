"""The rows of a report table: the entries that form each row, the settings that tell the rows of one method
apart (each in its own column), the rows' order and their names in words.

Entries that differ only in their seed form one row; two entries of the same settings and seed (a rerun
after a code change, say) are never averaged: each repeat is its own row, its run directories named. A
setting gets a column when it differs between two rows of one method: the dataset, the label count, the run
the network started from, the teacher, the unlabelled rows per labelled one, the crop policy, the
optimiser, then any other config key whose value those columns (and the backbone, length and batch
columns) do not already tell; the run a network started from has its column whenever a row has one. The
methods come first, in the order they were read, then the baselines (random init, raw pixels, supervised);
the rows of a method keep the order they were read in, except that they go up in label count.
"""

import collections
import dataclasses
import os
from collections.abc import Callable

from jaxssl import catalog
from jaxssl.report.runs import Entry

BASELINES = ("random init", "raw pixels", "supervised")

# The settings that the backbone, pretraining and batch columns show.
SHOWN_SETTINGS = (
    "model.backbone",
    "model.width_multiplier",
    "model.patch_size",
    "train.epochs",
    "train.steps",
    "train.batch_size",
)


@dataclasses.dataclass(frozen=True)
class Setting:
    """A column of the settings that tell rows apart: its title, its cell ("" for none), for a column the
    rows go up in, the number that orders them, and whether it is shown whenever a row fills it (a run that
    started from another run's network is another experiment, even when all rows of its method did)."""

    title: str
    cell: Callable[[dict], str]
    order: Callable[[dict], float] | None = None
    always: bool = False


@dataclasses.dataclass
class Row:
    """One row: what it evaluated (a method or a baseline), its settings and seeds' entries, and the run
    directories that name it when its settings and seed were run more than once."""

    label: str
    settings: dict
    entries: list[Entry]
    repeated_runs: str = ""


def label_count(settings: dict) -> tuple[int | None, str]:
    """(labelled images, if known; the setting in words) of a semi-supervised run's label subset: of the
    classes in data.classes when the run keeps some, named by its directory and file when the rows were listed
    (semisup.labelled_indices)."""
    per_class = settings.get("semisup.labels_per_class") or 0
    fraction = settings.get("semisup.label_fraction") or 0.0
    listed = settings.get("semisup.labelled_indices") or ""
    facts = catalog.PUBLISHED_DATASETS.get(settings.get("data.dataset"), {})
    classes = len(settings["data.classes"]) if settings.get("data.classes") else facts.get("num_classes")
    if listed:
        named = os.path.join(os.path.basename(os.path.dirname(listed)), os.path.basename(listed))
        return None, f"the rows of {named}"
    if per_class > 0:
        return (per_class * classes if classes else None), f"{per_class} per class"
    if fraction > 0:
        balanced = settings.get("data.dataset") in catalog.BALANCED_DATASETS
        per_class_examples = facts["train_examples"] / facts["num_classes"] if balanced else 0
        count = classes * round(fraction * per_class_examples) if balanced else None
        return count, f"{fraction * 100:g} %"
    return None, ""


def labels_cell(settings: dict) -> str:
    count, words = label_count(settings)
    if count is None:
        return words
    return f"{count:,} ({words})"


def labels_order(settings: dict) -> float:
    """The labelled images of a row, infinite when unknown (such rows stay in the order read, last)."""
    count, _ = label_count(settings)
    return float("inf") if count is None else float(count)


def crop_cell(settings: dict) -> str:
    """The crop policy; a run's config without a crop block crops at random (RandomResizedCrop)."""
    return settings.get("crop.policy") or ("random" if "method.name" in settings else "")


def optimiser_cell(settings: dict) -> str:
    parts = [
        settings.get("optim.name"),
        None if "optim.base_lr" not in settings else f"lr {settings['optim.base_lr']:g}",
        settings.get("optim.schedule"),
    ]
    return ", ".join(str(part) for part in parts if part)


def value_of(key: str) -> Callable[[dict], str]:
    return lambda settings: "" if settings.get(key) is None else str(settings[key])


KNOWN_SETTINGS = (
    Setting("dataset", value_of("data.dataset")),
    Setting("labels", labels_cell, labels_order),
    Setting("initialised from", value_of("init.workdir"), always=True),
    Setting("teacher", value_of("teacher.workdir")),
    Setting("unlabelled per labelled row", value_of("semisup.mu")),
    Setting("crop", crop_cell),
    Setting("optimiser", optimiser_cell),
)


def is_baseline(label: str) -> bool:
    return label in BASELINES or label.startswith("supervised (")


def group_rows(entries: list[Entry]) -> list[Row]:
    """The rows in the order their first entries were read, a seed run twice going to a second row."""
    groups = collections.OrderedDict()
    seen = collections.Counter()
    for entry in entries:
        settings = tuple(sorted(entry.settings.items()))
        repeat = seen[(entry.label, settings, entry.seed)]
        seen[(entry.label, settings, entry.seed)] += 1
        groups.setdefault((entry.label, settings, repeat), []).append(entry)
    repeated = {(label, settings) for label, settings, repeat in groups if repeat > 0}
    return [
        Row(
            label=label,
            settings=dict(settings),
            entries=group,
            repeated_runs=", ".join(entry.run for entry in group) if (label, settings) in repeated else "",
        )
        for (label, settings, _), group in groups.items()
    ]


def rows_by_label(rows: list[Row]) -> list[list[Row]]:
    by_label = collections.OrderedDict()
    for row in rows:
        by_label.setdefault(row.label, []).append(row)
    return list(by_label.values())


def tells_apart(setting: Setting, rows: list[Row]) -> bool:
    """Whether two rows of one method have different cells in the column of `setting`."""
    return any(len({setting.cell(row.settings) for row in same}) > 1 for same in rows_by_label(rows))


def told_by(key: str, columns: list[Setting], rows: list[Row]) -> bool:
    """Whether the cells of `columns` and the shown settings fix `key`'s value within each method."""
    for same in rows_by_label(rows):
        values = collections.defaultdict(set)
        for row in same:
            shown = tuple(setting.cell(row.settings) for setting in columns)
            values[shown + tuple(str(row.settings.get(k)) for k in SHOWN_SETTINGS)].add(
                str(row.settings.get(key))
            )
        if any(len(found) > 1 for found in values.values()):
            return False
    return True


def setting_columns(rows: list[Row]) -> list[Setting]:
    """The columns of the settings that tell rows of one method apart: the known ones, then each other
    differing config key that they do not already tell."""
    columns = [
        setting
        for setting in KNOWN_SETTINGS
        if tells_apart(setting, rows) or (setting.always and any(setting.cell(row.settings) for row in rows))
    ]
    differing = sorted(
        {
            key
            for same in rows_by_label(rows)
            for row in same
            for key in row.settings
            if key not in SHOWN_SETTINGS and len({str(other.settings.get(key)) for other in same}) > 1
        }
    )
    for key in differing:
        if not told_by(key, columns, rows):
            columns.append(Setting(key, value_of(key)))
    return columns


def in_method_order(same: list[Row], columns: list[Setting]) -> list[Row]:
    """The rows of one method in the order read, going up in each ordered column (the label count) among
    rows that agree on the other columns."""
    unordered = [setting for setting in columns if setting.order is None]
    first_seen = [list(dict.fromkeys(setting.cell(row.settings) for row in same)) for setting in unordered]

    def key(index: int) -> tuple:
        settings = same[index].settings
        return (
            tuple(seen.index(s.cell(settings)) for s, seen in zip(unordered, first_seen, strict=True)),
            tuple(setting.order(settings) for setting in columns if setting.order is not None),
            index,
        )

    return [same[index] for index in sorted(range(len(same)), key=key)]


def baseline_rank(label: str) -> int:
    return next(rank for rank, name in enumerate(BASELINES) if label.startswith(name))


def ordered(rows: list[Row], columns: list[Setting]) -> list[Row]:
    """The methods' rows in the order read, then the baselines' (random init, raw pixels, supervised)."""
    methods = [same for same in rows_by_label(rows) if not is_baseline(same[0].label)]
    baselines = sorted(
        (same for same in rows_by_label(rows) if is_baseline(same[0].label)),
        key=lambda same: baseline_rank(same[0].label),
    )
    return [row for same in methods + baselines for row in in_method_order(same, columns)]


def described(row: Row, columns: list[Setting], leave_out: str = "") -> str:
    """A row in words: its method, then each setting column it fills but `leave_out`."""
    return in_words(row, [s for s in columns if s.title != leave_out and s.cell(row.settings)])


def distinguished(row: Row, rows: list[Row], columns: list[Setting], leave_out: str = "") -> str:
    """A row in few words: its method, then, in the columns' order, each setting (but `leave_out`) that
    tells it apart from the method's other rows still alike, until none is (a fine-tuned teacher's path goes
    unsaid where the label count already tells the rows apart); a setting the row lacks is left unsaid, as in
    its table row."""
    alike = [other for other in rows if other is not row and other.label == row.label]
    telling = []
    for setting in columns:
        cell = setting.cell(row.settings)
        if not alike or setting.title == leave_out or all(setting.cell(o.settings) == cell for o in alike):
            continue
        if cell:
            telling.append(setting)
        alike = [other for other in alike if setting.cell(other.settings) == cell]
    return in_words(row, telling)


def in_words(row: Row, settings: list[Setting]) -> str:
    """The row's method, then each of `settings` with its cell, and its run directories where it repeats."""
    phrases = [f"{setting.title} {setting.cell(row.settings)}" for setting in settings]
    if row.repeated_runs:
        phrases.append(f"runs {row.repeated_runs}")
    return f"{row.label} ({'; '.join(phrases)})" if phrases else row.label


def table_cell(text: str) -> str:
    """`text` as a Markdown table cell: a pipe would end the cell and <...> would render as HTML."""
    return text.replace("|", "\\|").replace("<", "\\<").replace(">", "\\>")


def markdown(header: list[str], lines: list[list[str]]) -> str:
    """A Markdown table of `header` and `lines` of cells, an empty cell written "–"."""
    text = ["| " + " | ".join(map(table_cell, header)) + " |", "|" + "---|" * len(header)]
    text += ["| " + " | ".join(table_cell(cell or "–") for cell in line) + " |" for line in lines]
    return "\n".join(text) + "\n"
