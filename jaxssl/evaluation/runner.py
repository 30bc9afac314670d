"""Offline evaluation of a run: the protocols asked (registry.py lists them) on DIR's newest checkpoint, the
untrained network or raw pixels, each appending one JSON line to DIR/offline_eval.jsonl.

label_fraction < 1 trains probes and fine-tuning on a labelled subset of the training split (the kNN bank
too): class-balanced and nested from config.eval.label_seed, or ImageNet's standard lists.
"""

import logging
import os
import time

import jax

from jaxssl import catalog, run_state
from jaxssl import experiment as experiment_lib
from jaxssl.data import subsets
from jaxssl.evaluation import frozen, registry, resumable, trained
from jaxssl.evaluation.context import Context
from jaxssl.rundir import checkpoint, files, jsonl

RECORDS = files.OFFLINE_EVAL


def network_state(exp, workdir: str, init: str):
    """The trained state from DIR's newest readable checkpoint, or the untrained network of the run's seed."""
    layout = run_state.state_layout(exp)
    if init == "random":
        return run_state.create_state(exp, layout)
    return checkpoint.restore_newest(
        workdir,
        identity=exp.identity,
        abstract_state=layout,
        hint="; train first or pass --eval_init=random for the untrained network (or, with finetune, the "
        "supervised baseline)",
    )


def header(config, exp, *, features: str, init: str, step, label_fraction: float, labelled) -> dict:
    """What every record says about where its number comes from."""
    return {
        "features": features,
        "init": init if features == "network" else None,
        "step": step,
        "method": exp.method.name,
        "backbone": config.model.backbone,
        "width_multiplier": float(config.model.get("width_multiplier", 1.0)),
        **vit_patch(config),
        "dataset": exp.info.name,
        "seed": exp.seed,
        "label_fraction": label_fraction,
        "label_seed": config.eval.label_seed,
        "labelled_examples": len(labelled.labels),
        "eval_examples": len(exp.eval_source.labels),
    }


def vit_patch(config) -> dict:
    """{"patch_size": pixels} for a ViT, whose token grid it sets; {} for the other backbones."""
    if catalog.family_of(config.model.backbone) != "vit":
        return {}
    return {"patch_size": int(config.model.patch_size)}


def evaluate(
    config,
    workdir: str,
    *,
    protocols=registry.DEFAULT_PROTOCOLS,
    features: str = "network",
    init: str = "checkpoint",
    label_fraction: float = 1.0,
) -> list[dict]:
    """Runs the protocols on DIR's newest checkpoint (or the untrained network, or raw pixels) and appends
    one line per protocol to DIR/offline_eval.jsonl; returns those records. Every check, the request's and
    what each protocol needs of the run, comes before anything is computed or written."""
    names = tuple(dict.fromkeys(protocols))
    registry.check_request(names, features, init, label_fraction)
    exp = experiment_lib.prepare(config)
    labelled = subsets.labelled_subset(
        exp.whole_train_source,
        dataset=config.data.dataset,
        fraction=label_fraction,
        seed=config.eval.label_seed,
        manual_dir=config.data.manual_dir or None,
    )
    registry.check_requirements(names, exp, config, labelled)
    reads_network = features == "network" and any(registry.PROTOCOLS[name].reads_network for name in names)
    state = network_state(exp, workdir, init) if reads_network else None
    if jax.process_index() == 0:
        jsonl.check_appendable(os.path.join(workdir, RECORDS))
    title = (
        f"{exp.method.name}, {config.model.backbone}, {exp.info.name}" if features == "network" else "pixels"
    )
    context = Context(
        exp=exp,
        config=config,
        state=state,
        labelled=labelled,
        workdir=workdir,
        title=title,
        header=header(
            config,
            exp,
            features=features,
            init=init,
            step=None if state is None else int(state.step),
            label_fraction=label_fraction,
            labelled=labelled,
        ),
    )
    records = []
    for name, finished in run_protocols(names, context):
        if jax.process_index() == 0:
            os.makedirs(workdir, exist_ok=True)
            jsonl.append(os.path.join(workdir, RECORDS), finished)
        if name in trained.BLOCKS:
            resumable.remove_finished([resumable.progress_dir(workdir, name, context.header)])
        records.extend(finished)
    logging.info(
        "offline evaluation of %s%s:\n%s\nrecords appended to %s",
        title,
        "" if state is None else f" at step {int(state.step)}" + (" (untrained)" if init == "random" else ""),
        "\n".join(map(summary_of, records)),
        os.path.join(workdir, RECORDS),
    )
    return records


def run_protocols(names, context: Context):
    """(protocol, its records) of the protocols `names` as each finishes, so that each is written before the
    next starts (a preemption in a fine-tuning keeps the records before it): first the frozen-feature ones,
    together from one embedding pass and in the registry's order (each timed as the whole group), then the
    others in the order asked."""
    start = time.time()
    group = {name: p for name, p in registry.PROTOCOLS.items() if p.frozen and name in names}
    results = frozen.frozen_records(group, context) if group else {}
    for name in results:
        yield name, [protocol_record(name, context.header, one, start) for one in listed(results[name])]
    for name in names:
        protocol = registry.PROTOCOLS[name]
        if not protocol.frozen:
            start = time.time()
            results = protocol.record(context.keyed(protocol.key_salt))
            yield name, [protocol_record(name, context.header, one, start) for one in listed(results)]


def listed(results: dict | list) -> list[dict]:
    """A protocol's results as a list: one record each (the few-shot protocols make one per shot count)."""
    return results if isinstance(results, list) else [results]


def protocol_record(name: str, common: dict, results: dict, start: float) -> dict:
    """A line of offline_eval.jsonl: the protocol, its description, the header, its results, its seconds."""
    return {
        "protocol": name,
        "description": registry.PROTOCOLS[name].description,
        **common,
        **results,
        "seconds": round(time.time() - start, 1),
    }


def summary_of(record: dict) -> str:
    """A protocol's headline numbers in one line: its top-1, or the health of the backbone's features, and
    where its figure went."""
    parts = [f"  {record['protocol']}:"]
    if "shots" in record:
        parts.append(("" if "ways" not in record else f"{record['ways']}-way ") + f"{record['shots']}-shot")
    if "top1" in record:
        parts.append(f"top-1 {100 * record['top1']:.2f} %")
    if "top5" in record:
        parts.append(f"top-5 {100 * record['top5']:.2f} %")
    if "layers" in record:
        parts.append(", ".join(f"{name} {100 * top1:.2f} %" for name, top1 in record["layers"].items()))
    if "classifiers" in record:
        parts.append(
            ", ".join(
                f"{name} {100 * r['top1']:.2f} ± {100 * r['ci95']:.2f} %"
                for name, r in record["classifiers"].items()
            )
        )
    if record["protocol"] == "knn":
        best = max(record["grid"]["backbone"].items(), key=lambda item: item[1])[0]
        parts.append(f"(best k/T {best})")
    if "spaces" in record:
        backbone = record["spaces"]["backbone"]
        parts.append(f"effective rank {backbone['effective_rank']:.1f}")
        parts.append("COLLAPSED" if record["collapsed"] else "not collapsed")
    if "png" in record:
        parts.append(record["png"])
    return " ".join(parts)
