"""What run directories hold, read back as entries: one per representation a directory evaluated.

A run directory holds what training and evaluation wrote: config.json, metrics.jsonl (the online probe, the
wall time and images/s of the "run" lines) and offline_eval.jsonl (one line per protocol; the newest line of
each protocol and label fraction counts). Its entries: the pretrained network (its method), the untrained
network ("random init"), raw pixels, and the network fine-tuned from a random initialisation ("supervised",
followed by its recipe's optimiser when the record names one: "supervised (lars)").
"""

import dataclasses
import glob
import json
import os
import re
import shutil

from jaxssl.rundir import files, jsonl

# Settings that say how a run was watched or stored, not what it learned: never a reason for two rows.
IGNORED_SETTINGS = (
    "seed",
    "name",
    "eval.",
    "checkpoint.",
    "mesh.",
    "log_every_steps",
    "data.manual_dir",
    "data.data_dir",
    "data.download",
    "data.skip_bad_files",
    "data.prefetch",
    "anchor.",
    "linear_sgd.",
    "finetune.",
    "fewshot.",
)

# Settings that name another run's directory or a file in one (the backbone a run started from, Noisy
# Student's teacher, a fine-tuned teacher's predictions): the seed of that directory's name is the run's own
# seed's counterpart (a sweep's `{seed}`, and written so), not a setting, so the seeds of "SimCLR + FixMatch"
# form one row.
RUN_DIRECTORY_SETTINGS = ("init.workdir", "teacher.workdir")
# The file of labelled rows an active-learning loop of seed N chose (<root>/<name>_<strategy>_seed<N>/labelled_<k>.txt,
# launch/active_learning.py): its directory's seed is the run's own seed's counterpart in the same way.
LABELLED_ROWS_SETTING = "semisup.labelled_indices"


SEEDED_DIRECTORY = re.compile(r"_seed\d+(?=/|$)")  # a path component ending in _seed<N>


def setting_value(key: str, value):
    """A setting as the report compares it: where it names another run's directory or a file in one (a
    fine-tuned teacher's predictions, DIR/finetuned/labels0.01.npz; a file of labelled rows), that directory's
    _seed<N> (the last path component to end so) written _seed{seed}."""
    if key not in (*RUN_DIRECTORY_SETTINGS, LABELLED_ROWS_SETTING) or not isinstance(value, str):
        return value
    value = value.rstrip("/")
    seeded = list(SEEDED_DIRECTORY.finditer(value))
    if not seeded:
        return value
    return value[: seeded[-1].start()] + "_seed{seed}" + value[seeded[-1].end() :]


@dataclasses.dataclass
class Entry:
    """One representation of one run directory: what it is, its settings, its seed and its numbers.

    training_log: the metrics.jsonl of the run that trained the entry's network ("" for a baseline); values:
    {(protocol, label fraction): top-1 in %}; recipes: {(protocol, label fraction): the training
    recipe of a trained protocol, as sorted JSON}; knn_grids: {label fraction: {(k, T): top-1 in %}};
    spread: (mean, smallest) per-dimension std of the normalised eval features."""

    label: str
    settings: dict
    seed: int
    values: dict
    run: str = ""
    training_log: str = ""
    recipes: dict = dataclasses.field(default_factory=dict)
    knn_grids: dict = dataclasses.field(default_factory=dict)
    effective_rank: float | None = None
    collapsed: bool = False
    spread: tuple[float, float] | None = None
    wall_seconds: float | None = None
    examples_per_s: float | None = None
    anchor: dict | None = None


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
    return any(os.path.exists(os.path.join(path, name)) for name in files.RECORD_FILES)


def export_records(run_dirs, destination: str) -> list[str]:
    """Copies the records of each run directory (files.RECORD_FILES; no checkpoints, no figures) to
    destination/<run name>/, so that a table's numbers can be kept with the code and reported again. A copy
    already there may only be the same file or, for the append-only .jsonl logs, an older prefix of it;
    anything else is an error raised before a file is written. Returns the paths written."""
    copies = []
    for run_dir in run_dirs:
        target_dir = os.path.join(destination, os.path.basename(os.path.normpath(run_dir)))
        for name in files.RECORD_FILES:
            source, target = os.path.join(run_dir, name), os.path.join(target_dir, name)
            if os.path.exists(source):
                check_replaceable(source, target)
                copies.append((source, target))
    for source, target in copies:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target)
    return [target for _, target in copies]


def check_replaceable(source: str, target: str) -> None:
    """FileExistsError unless `target` is absent, equal to `source`, or an older prefix of a .jsonl log."""
    if not os.path.exists(target):
        return
    with open(source, "rb") as f:
        new = f.read()
    with open(target, "rb") as f:
        old = f.read()
    if new == old or (target.endswith(".jsonl") and new.startswith(old)):
        return
    raise FileExistsError(
        f"{target} already holds other records than {source}: not overwritten (move it away or export elsewhere)"
    )


def training_summary(lines: list[dict]) -> dict:
    """Online probe top-1 (%) at the last evaluation (and the network's own classifier's, where it has one),
    and the pretraining's wall time and images/s summed over its "run" lines (one per command that
    trained). A step evaluated twice (a run resumed from a checkpoint before an evaluation it had already
    logged) is read from its later line, as everywhere else."""
    summary = {}
    evals = [line for line in lines if line.get("split") == "eval" and "linear_top1" in line]
    if evals:
        last = sorted(evals, key=lambda line: line["step"])[-1]  # stable: the later of equal steps
        summary["online_probe"] = 100.0 * last["linear_top1"]
        if "classifier_top1" in last:
            summary["classifier"] = 100.0 * last["classifier_top1"]
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
        if record["protocol"] != "finetune":
            return "random init"
        optimizer = record.get("recipe", {}).get("optimizer")
        return f"supervised ({optimizer})" if optimizer else "supervised"
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


def result_name(record: dict) -> str:
    """A record's protocol, with the setting of a few-shot one (one record per shot count): "fewshot 5-shot",
    "episodes 5-way 1-shot"."""
    if "shots" not in record:
        return record["protocol"]
    ways = f"{record['ways']}-way " if "ways" in record else ""
    return f"{record['protocol']} {ways}{record['shots']}-shot"


def newest_records(records: list[dict]) -> dict:
    """{(representation kind, protocol or few-shot setting, label fraction): the newest record} (later lines
    win)."""
    newest = {}
    for record in (upgraded for line in records for upgraded in legacy_records(line)):
        kind = (record.get("features"), record.get("init"))
        newest[(kind, result_name(record), float(record.get("label_fraction", 1.0)))] = record
    return newest


def entries_of(run_dir: str) -> list[Entry]:
    """The entries of one run directory."""
    config = files.read_config(os.path.join(run_dir, files.CONFIG))
    records = jsonl.read(os.path.join(run_dir, files.OFFLINE_EVAL))
    logged = jsonl.read(os.path.join(run_dir, files.METRICS))
    summary = training_summary(logged)
    first = records[0] if records else {}
    method = config.get("method", {}).get("name") or first.get("method", "?")
    # A config from before deep co-training was its own method named it as co-training's objective.
    method = config.get("method", {}).get("objective", method)
    method = config.get("name") or method  # a recipe named apart from its method (dinov2 trains ibot)
    settings = {  # an empty string is an option left unset, as in a config written before the option existed
        k: setting_value(k, v)
        for k, v in flatten(config).items()
        if not k.startswith(IGNORED_SETTINGS) and v != ""
    }
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
                training_log=os.path.join(run_dir, files.METRICS) if pretrained else "",
                anchor=config.get("anchor") if pretrained else None,
            )
        return by_label[label]

    if logged:
        pretrained = entry(method)
        for protocol in ("online_probe", "classifier"):
            if protocol in summary:
                pretrained.values[(protocol, 1.0)] = summary[protocol]
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
        elif protocol == "layers":
            for layer, top1 in record["layers"].items():
                target.values[(f"layer {layer}", fraction)] = 100.0 * top1
        elif "classifiers" in record:  # episodes: each classifier's mean over the episodes
            for classifier, result in record["classifiers"].items():
                target.values[(f"{protocol} {classifier}", fraction)] = 100.0 * result["top1"]
        elif "top1" in record:
            target.values[(protocol, fraction)] = 100.0 * record["top1"]
            if "top5" in record:
                target.values[(f"{protocol} top-5", fraction)] = 100.0 * record["top5"]
            if "recipe" in record:
                target.recipes[(protocol, fraction)] = json.dumps(record["recipe"], sort_keys=True)
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
        "model.patch_size": model.get("patch_size", record.get("patch_size")),
        **dataset,
    }
