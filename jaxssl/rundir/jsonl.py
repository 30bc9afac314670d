"""The JSON-lines record files of a run directory (metrics.jsonl, offline_eval.jsonl).

Written one whole line per write, under a lock on the file, so two writers (training and an offline
evaluation, or two evaluations) never interleave their lines. A process killed mid-write can still leave a
torn last line: the next writer moves that fragment to FILE.torn (kept, never deleted) before it appends,
and a reader skips it with a warning naming the file and line. Any other line that does not parse is an
error naming the file and line.

Every line is strict JSON: a NaN or infinite number (a metric that diverged) is written as the string
"NaN", "Infinity" or "-Infinity" (the names of JSON's mappings in other languages, protobuf's among them)
and read back as that float.
"""

import fcntl
import json
import logging
import math
import os


class MalformedRecordError(ValueError):
    """A line of a record file that is not a JSON object, and not a torn last line."""


def _set_aside_torn_tail(f, path: str) -> None:
    """Moves the bytes after the last newline of the open file `f` (a dead writer's torn line) to path.torn."""
    size = f.seek(0, os.SEEK_END)
    if size == 0:
        return
    f.seek(size - 1)
    if f.read(1) == b"\n":
        return
    f.seek(0)
    content = f.read()
    keep = content.rfind(b"\n") + 1
    with open(path + ".torn", "ab") as torn:
        torn.write(content[keep:] + b"\n")
    f.truncate(keep)
    logging.warning(
        "%s ended in a torn line (a writer killed mid-write); moved it to %s.torn before appending",
        path,
        path,
    )


NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def strict(value):
    """`value` with each NaN or infinite float, in nested dicts and lists too, replaced by its NON_FINITE name."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    return value


def restored(value):
    """`value` with each NON_FINITE name, in nested dicts and lists too, back as its float."""
    if isinstance(value, str):
        return NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {key: restored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [restored(item) for item in value]
    return value


def check_appendable(path: str) -> None:
    """PermissionError naming the place unless this process can append to `path` (or create it: then the
    nearest existing directory above it must be writable). Called before a command computes for minutes."""
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing) or "."
    if not os.access(existing, os.W_OK) or (existing == path and os.path.isdir(path)):
        raise PermissionError(
            f"{existing} cannot be written, so the records of this command ({path}) could not be kept: "
            "nothing was computed. Make it writable, or evaluate a copy of the run directory"
        )


def append(path: str, records: list[dict]) -> None:
    """Appends one strict JSON line per record (strict), under an exclusive lock on the file."""
    text = "".join(json.dumps(strict(record), allow_nan=False) + "\n" for record in records).encode()
    with open(path, "ab+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            _set_aside_torn_tail(f, path)
            f.write(text)
            f.flush()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read(path: str) -> list[dict]:
    """The records of a JSON-lines file ([] when absent), non-finite numbers restored (restored); a torn last
    line is skipped with a warning, any other unparsable line raises MalformedRecordError naming the file and
    line."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        content = f.read()
    lines = content.split(b"\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            if number == len(lines):  # no newline after it: the write was cut short
                logging.warning("%s line %d is torn (a writer killed mid-write); skipped", path, number)
                continue
            raise MalformedRecordError(f"{path} line {number} is not a JSON record ({error})") from None
        if not isinstance(record, dict):
            raise MalformedRecordError(f"{path} line {number} is not a JSON object: {line[:80]!r}")
        records.append(restored(record))
    return records
