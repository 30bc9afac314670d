"""The active-learning loop, round by round, resumable: round 0 labels `initial_budget` rows by a cold-start
rule; each later round fits the round's classifier on the labelled rows, scores or covers the pool by the
strategy and labels `budget` more. After each round the linear probe on all labels so far is measured on the
test split.

A loop's directory (one writer at a time: rundir/lock.py):

  DIR/loop.json            the settings and the encoder (method, dataset, checkpoint step); a rerun with other
                           settings is refused
  DIR/round_<r>.json       round r: its rule, the rows chosen (in the order chosen), their values and
                           labels, how many rows are labelled, the probe's test top-1, the seconds it took
  DIR/labelled_<n>.txt     the n rows labelled after a round, one per line, in the order chosen: the file that
                           --config.semisup.labelled_indices takes
  DIR/lock                 held while a process runs the loop (rundir/lock.py), empty otherwise

Each file is written whole (files.written_whole) and never replaced. A rerun reads the rounds recorded and
goes on from the first missing one; every draw of a round comes from (seed, round), so a loop killed in a
round and rerun records what an uninterrupted one would.
"""

import dataclasses
import json
import os
import time

import numpy as np

from jaxssl.active import classifier
from jaxssl.active.pool import Pool
from jaxssl.active.strategies import COLD_START, STRATEGIES, VALUES, Request, pool_delta
from jaxssl.rundir import files, jsonl, lock

LOOP = "loop.json"


@dataclasses.dataclass(frozen=True)
class Settings:
    """strategy: a STRATEGIES name; initial: the cold-start rule of round 0 (a COLD_START name); initial_budget
    and round_budgets: rows labelled in round 0 and added in each later round; seed: the loop's draws;
    committee: vote_entropy's members; k_neighbours: TypiClust's K; purity: ProbCover's alpha."""

    strategy: str
    initial: str
    initial_budget: int
    round_budgets: tuple[int, ...]
    seed: int = 0
    committee: int = 5
    k_neighbours: int = 20
    purity: float = 0.95

    @property
    def budgets(self) -> tuple[int, ...]:
        return (self.initial_budget, *self.round_budgets)


def check_settings(settings: Settings, pool_size: int | None = None) -> None:
    """ValueError for an unknown strategy or cold-start rule, a budget that is not an int >= 1, budgets
    larger than the unlabelled pool (when its size is known), a committee of fewer than two, a purity
    outside (0, 1)."""
    if settings.strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {settings.strategy!r}; choose from {sorted(STRATEGIES)}")
    if settings.initial not in COLD_START:
        raise ValueError(
            f"round 0 has no label to train a classifier on: its rule is one of {list(COLD_START)}, got "
            f"{settings.initial!r}"
        )
    for budget in settings.budgets:
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise ValueError(f"each round's budget must be an int >= 1, got {list(settings.budgets)}")
    if pool_size is not None and sum(settings.budgets) > pool_size:
        raise ValueError(
            f"the budgets {list(settings.budgets)} ask for {sum(settings.budgets)} labels, more than the "
            f"unlabelled pool of {pool_size} rows"
        )
    if settings.committee < 2:
        raise ValueError(f"a committee has at least two members, got {settings.committee}")
    if not 0.0 < settings.purity < 1.0:
        raise ValueError(f"ProbCover's purity must lie in (0, 1), got {settings.purity}")


def loop_record(settings: Settings, encoder: dict, pool_size: int, test_size: int) -> dict:
    """What DIR/loop.json holds."""
    return {
        **dataclasses.asdict(settings),
        "round_budgets": list(settings.round_budgets),
        **encoder,
        "pool_examples": pool_size,
        "test_examples": test_size,
    }


def check_loop_dir(workdir: str, record: dict) -> None:
    """ValueError when DIR holds a loop of other settings or another encoder (or checkpoint step); nothing is
    written."""
    found = files.read_config(os.path.join(workdir, LOOP))
    differ = {
        key: (found.get(key), value) for key, value in record.items() if found and found.get(key) != value
    }
    if differ:
        raise ValueError(
            f"{workdir} holds a loop of other settings ({differ}, as (recorded, asked)): resume it with its own "
            "settings or use another directory"
        )


def round_path(workdir: str, index: int) -> str:
    return os.path.join(workdir, f"round_{index}.json")


def indices_path(workdir: str, count: int) -> str:
    return os.path.join(workdir, f"labelled_{count}.txt")


def write_new(path: str, text: str) -> None:
    """Writes `text` to `path` whole; FileExistsError rather than replace an earlier file."""
    if os.path.exists(path):
        raise FileExistsError(f"{path} exists already: a loop never replaces a record")
    with files.written_whole(path) as f:
        f.write(text)


def read_rounds(workdir: str) -> list[dict]:
    """The rounds recorded in DIR, from round 0 up to the first missing one."""
    rounds = []
    while os.path.exists(round_path(workdir, len(rounds))):
        rounds.append(jsonl.restored(files.read_config(round_path(workdir, len(rounds)))))
    return rounds


def indices_text(rows: np.ndarray, record: dict, loop: dict) -> str:
    """The indices file: a comment naming where the rows come from, then one row per line."""
    header = (
        f"# {len(rows)} rows of the {loop['dataset']} training split labelled by {loop['strategy']} after round "
        f"{record['round']} (seed {loop['seed']}, encoder {loop['method']} at step {loop['step']}), in the order "
        "chosen; for --config.semisup.labelled_indices\n"
    )
    return header + "".join(f"{row}\n" for row in rows)


def choose(
    pool: Pool, settings: Settings, labelled: np.ndarray, index: int, delta
) -> tuple[str, np.ndarray, list]:
    """(rule, rows, their values or None) of round `index`."""
    rule = settings.initial if index == 0 else settings.strategy
    rng = np.random.default_rng((settings.seed, index))
    request = Request(
        pool=pool,
        labelled=labelled,
        budget=settings.budgets[index],
        rng=rng,
        seed=(settings.seed, index),
        committee=settings.committee,
        k_neighbours=settings.k_neighbours,
        delta=delta,
    )
    rows, values = STRATEGIES[rule](request)
    return (
        rule,
        np.asarray(rows, np.int64),
        None if values is None else np.asarray(values, np.float64).tolist(),
    )


def run_round(pool: Pool, settings: Settings, labelled: np.ndarray, index: int, delta) -> dict:
    """Round `index`'s record, nothing written."""
    started = time.time()
    rule, rows, values = choose(pool, settings, labelled, index, delta)
    labelled = np.concatenate([labelled, rows])
    top1 = classifier.test_top1(pool, classifier.fit(pool, labelled))
    record = {
        "round": index,
        "rule": rule,
        "budget": settings.budgets[index],
        "chosen": rows.tolist(),
        "values": values,
        "value": VALUES[rule],
        "chosen_labels": pool.labels[rows].tolist(),
        "labelled": len(labelled),
        "classes_labelled": len(np.unique(pool.labels[labelled])),
        "test_top1": top1,
    }
    if rule == "probcover":
        record["delta"] = delta
    return {**record, "seconds": round(time.time() - started, 1)}


def run_loop(pool: Pool, settings: Settings, workdir: str) -> list[dict]:
    """Runs (or resumes) the loop in DIR and returns every round's record."""
    check_settings(settings, pool.size)
    loop = loop_record(settings, pool.encoder, pool.size, len(pool.test_labels))
    check_loop_dir(workdir, loop)
    with lock.hold(workdir):
        if not os.path.exists(os.path.join(workdir, LOOP)):
            write_new(os.path.join(workdir, LOOP), json.dumps(loop, indent=2) + "\n")
        rounds = read_rounds(workdir)
        labelled = np.asarray([row for record in rounds for row in record["chosen"]], np.int64)
        for record in rounds:  # a loop killed between a round's record and its indices file
            count = record["labelled"]
            if not os.path.exists(indices_path(workdir, count)):
                write_new(indices_path(workdir, count), indices_text(labelled[:count], record, loop))
        uses_probcover = "probcover" in (settings.initial, settings.strategy)
        unfinished = len(rounds) < len(settings.budgets)
        delta = pool_delta(pool, settings.seed, settings.purity) if uses_probcover and unfinished else None
        for index in range(len(rounds), len(settings.budgets)):
            record = run_round(pool, settings, labelled, index, delta)
            labelled = np.concatenate([labelled, np.asarray(record["chosen"], np.int64)])
            write_new(round_path(workdir, index), json.dumps(jsonl.strict(record), allow_nan=False) + "\n")
            write_new(indices_path(workdir, len(labelled)), indices_text(labelled, record, loop))
            rounds.append(record)
        return rounds
