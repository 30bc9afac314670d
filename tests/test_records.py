"""The record files (metrics.jsonl, offline_eval.jsonl): a line torn by a kill, malformed lines, concurrent
writers, a directory that cannot be written; a run directory's files written whole and never over an earlier
one; and the bound on the training steps in flight."""

import json
import logging
import os
import threading

import pytest
from absl import app

from configs import simclr
from jaxssl import main, stop
from jaxssl.evaluation import frozen, runner
from jaxssl.report import tables
from jaxssl.rundir import files, jsonl

TORN = '{"step": 7, "split": "tr'


def write_lines(path, records, tail=""):
    with open(path, "w") as f:
        f.writelines(json.dumps(record) + "\n" for record in records)
        f.write(tail)


def test_a_torn_last_line_is_skipped_with_a_warning_naming_file_and_line(tmp_path, caplog):
    path = str(tmp_path / "metrics.jsonl")
    write_lines(path, [{"step": 1}, {"step": 2}], tail=TORN)
    with caplog.at_level(logging.WARNING):
        assert jsonl.read(path) == [{"step": 1}, {"step": 2}]
    assert any(f"{path} line 3 is torn" in message for message in caplog.messages)


@pytest.mark.parametrize("bad", ["not json", "[1, 2]"])
def test_a_malformed_line_before_the_last_is_an_error_naming_file_and_line(tmp_path, bad):
    path = str(tmp_path / "offline_eval.jsonl")
    with open(path, "w") as f:
        f.write(f'{{"step": 1}}\n{bad}\n{{"step": 3}}\n')
    with pytest.raises(jsonl.MalformedRecordError, match=rf"{path} line 2 is not a JSON"):
        jsonl.read(path)


def test_appending_after_a_torn_line_keeps_the_fragment_aside_and_the_file_valid(tmp_path, caplog):
    path = str(tmp_path / "metrics.jsonl")
    write_lines(path, [{"step": 1}], tail=TORN)
    with caplog.at_level(logging.WARNING):
        jsonl.append(path, [{"step": 2}, {"step": 3}])
    assert jsonl.read(path) == [{"step": 1}, {"step": 2}, {"step": 3}]
    with open(path + ".torn") as f:
        assert f.read() == TORN + "\n"
    assert any("torn line" in message for message in caplog.messages)


def test_concurrent_writers_never_interleave_their_lines(tmp_path):
    path = str(tmp_path / "offline_eval.jsonl")
    padding = "x" * 20000  # far beyond one page: an unlocked buffered write would be split

    def writer(name):
        for index in range(40):
            jsonl.append(path, [{"writer": name, "index": index, "padding": padding}])

    threads = [threading.Thread(target=writer, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = jsonl.read(path)
    assert sorted((r["writer"], r["index"]) for r in records) == [(n, i) for n in "ab" for i in range(40)]


def test_the_report_reads_a_run_whose_logs_a_kill_tore(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_lines(
        str(run / "offline_eval.jsonl"),
        [{"protocol": "linear_lbfgs", "features": "network", "init": "checkpoint", "top1": 0.8}],
        tail='{"protocol": "knn", "top',
    )
    write_lines(str(run / "metrics.jsonl"), [{"step": 1, "split": "eval", "linear_top1": 0.5}], tail=TORN)
    with open(run / "config.json", "w") as f:
        json.dump({"method": {"name": "simclr"}, "seed": 0}, f)
    table = tables.report([str(run)])
    assert "80.00" in table and "50.00" in table


def test_a_directory_that_cannot_be_written_is_refused_before_computing(fashion_dir, tmp_path, monkeypatch):
    # As root (CI), permissions do not stop a write: the check asks os.access, so refuse it for the run
    # directory as a read-only mount or another user's directory would.
    run = str(tmp_path / "read_only")
    os.makedirs(run)
    monkeypatch.setattr(jsonl.os, "access", lambda path, mode: path != run)
    monkeypatch.setattr(frozen, "frozen_records", lambda *args: pytest.fail("computed before the check"))
    config = simclr.get_config("dataset=fashion_mnist,tiny=1")
    config.data.manual_dir = fashion_dir
    with pytest.raises(PermissionError, match="read_only cannot be written.*nothing was computed"):
        runner.evaluate(config, run, features="pixels")
    jsonl.check_appendable(
        str(tmp_path / "new_run" / "offline_eval.jsonl")
    )  # created later: its parent is writable


def test_a_file_written_whole_is_the_earlier_one_or_the_new_one_never_a_part(tmp_path):
    path = str(tmp_path / "config.json")
    with files.written_whole(path) as f:
        f.write("first")
    with pytest.raises(RuntimeError, match="killed"), files.written_whole(path) as f:
        f.write("half of the second")
        raise RuntimeError("killed mid-write")
    with open(path) as f:
        assert f.read() == "first"
    assert os.listdir(tmp_path) == ["config.json"]  # no temporary file left behind


def test_a_free_name_never_replaces_an_earlier_file_nor_the_file_beside_it(tmp_path):
    directory = str(tmp_path)
    assert (
        files.free_path(directory, "native_step4_online", "npz", "json")
        == f"{directory}/native_step4_online.npz"
    )
    (tmp_path / "native_step4_online.json").write_text("{}")  # an earlier export's metadata alone
    assert (
        files.free_path(directory, "native_step4_online", "npz", "json")
        == f"{directory}/native_step4_online_1.npz"
    )
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "config.1.json").write_text("{}")
    assert files.earlier_config_path(directory) == f"{directory}/config.2.json"
    os.makedirs(tmp_path / "plots")
    (tmp_path / "plots" / "tsne_step4.png").write_bytes(b"")
    assert files.figure_path(directory, "tsne_step4") == f"{directory}/plots/tsne_step4_1.png"


def test_the_host_waits_for_steps_beyond_the_in_flight_bound():
    waited = []

    class Loss:
        def __init__(self, step):
            self.step = step

        def block_until_ready(self):
            waited.append(self.step)

    in_flight = stop.StepsInFlight(limit=2)
    for step in range(1, 6):
        in_flight.add(Loss(step))
        assert waited == list(range(1, max(step - 2, 0) + 1))  # step s waits for step s - 2 to be computed


def test_a_corrupt_config_json_is_named(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"method": {"name": "simc')
    with pytest.raises(jsonl.MalformedRecordError, match=rf"{run}/config.json is not a readable config"):
        tables.report([str(run)])
    with pytest.raises(app.UsageError, match=rf"{run}/config.json is not a readable config"):
        main.saved_config(str(run))


def test_an_offline_evaluation_ends_with_its_headline_numbers():
    knn = {"protocol": "knn", "top1": 0.843, "grid": {"backbone": {"20/0.07": 0.843, "5/0.07": 0.80}}}
    health = {"protocol": "health", "spaces": {"backbone": {"effective_rank": 30.25}}, "collapsed": False}
    tsne = {"protocol": "tsne", "png": "DIR/plots/tsne_step4.png"}
    assert [runner.summary_of(r) for r in (knn, health, tsne)] == [
        "  knn: top-1 84.30 % (best k/T 20/0.07)",
        "  health: effective rank 30.2 not collapsed",
        "  tsne: DIR/plots/tsne_step4.png",
    ]
