"""The report table from fake run directories: grouping over seeds, mean ± std, protocols and fractions,
baselines, sweeps, anchors, paired comparisons, a paper's published table beside the runs' and the command's
refusals; the training-curves PNG and the t-SNE legend."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from jaxssl import catalog
from jaxssl.report import compare, plots, reference
from jaxssl.report import rows as report_rows
from jaxssl.report import runs as runs_lib
from jaxssl.report import tables as report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANCHOR = {"top1": 92.1, "protocol": "online_probe", "source": "solo-learn"}


def write_run(directory, *, config=None, metrics=(), records=()):
    os.makedirs(directory, exist_ok=True)
    if config is not None:
        with open(os.path.join(directory, "config.json"), "w") as f:
            json.dump(config, f)
    for name, lines in (("metrics.jsonl", metrics), ("offline_eval.jsonl", records)):
        if lines:
            with open(os.path.join(directory, name), "w") as f:
                f.writelines(json.dumps(line) + "\n" for line in lines)


def pretrain_config(method, seed, lr=0.4):
    return {
        "seed": seed,
        "method": {"name": method},
        "model": {"backbone": "resnet10", "width_multiplier": 0.25},
        "train": {"epochs": 4.0, "steps": -1, "batch_size": 256},
        "optim": {"base_lr": lr},
        "eval": {"every_steps": 500},
        "data": {"dataset": "fashion_mnist", "manual_dir": f"/somewhere/{seed}"},
        "anchor": ANCHOR,
    }


def record(protocol, top1=None, fraction=1.0, init="checkpoint", seed=0, **fields):
    line = {
        "protocol": protocol,
        "features": "network",
        "init": init,
        "label_fraction": fraction,
        "seed": seed,
        "method": "simclr",
        "backbone": "resnet10",
        "width_multiplier": 0.25,
        "dataset": "fashion_mnist",
        **fields,
    }
    if top1 is not None:
        line["top1"] = top1
    return line


@pytest.fixture
def runs(tmp_path):
    linear = {0: 0.80, 1: 0.82, 2: 0.84}
    for seed in (0, 1, 2):
        knn_grid = {"20/0.07": 0.70 + seed / 100, "200/0.5": 0.75 - seed / 100}  # means 0.71 and 0.74
        write_run(
            tmp_path / f"simclr_seed{seed}",
            config=pretrain_config("simclr", seed),
            metrics=[
                {"step": 500, "split": "eval", "linear_top1": 0.5},
                {"step": 938, "split": "eval", "linear_top1": 0.60 + seed / 100},
                {"step": 400, "split": "run", "seconds": 100.0, "examples_per_s": 1000.0},
                {"step": 938, "split": "run", "seconds": 300.0, "examples_per_s": 200.0},
            ],
            records=[
                record("linear_lbfgs", 0.1, seed=seed),  # superseded by the next line of the same protocol
                record("linear_lbfgs", linear[seed], seed=seed),
                record("linear_lbfgs", 0.5 + seed / 100, fraction=0.01, seed=seed),
                record(
                    "knn", max(knn_grid.values()), seed=seed, grid={"backbone": knn_grid, "projector": {}}
                ),
                record(
                    "health",
                    seed=seed,
                    spaces={"backbone": {"effective_rank": 10.0 + seed}},
                    collapsed=seed == 2,
                ),
            ],
        )
        write_run(
            tmp_path / f"supervised_seed{seed}",
            records=[record("finetune", 0.6 + seed / 50, fraction=0.01, init="random", seed=seed)],
        )
    return tmp_path


def test_runs_of_several_seeds_are_one_row_with_mean_and_std(runs):
    table = report.report([str(runs / "simclr_seed*"), str(runs / "supervised_seed*")])
    lines = table.splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == [
        "method",
        "backbone",
        "pretraining",
        "batch",
        "seeds",
        "online probe",
        "linear (L-BFGS)",
        "kNN best",
        "linear (L-BFGS) 1 %",
        "fine-tune 1 %",
        "effective rank",
        "pretraining wall time (min)",
        "images/s",
        "anchor",
    ]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")] for line in lines[2:]}
    assert set(rows) == {"simclr", "supervised"}
    simclr = dict(zip(header, rows["simclr"], strict=True))
    assert (
        simclr["backbone"] == "resnet10 x0.25"
        and simclr["pretraining"] == "4 epochs"
        and simclr["seeds"] == "3"
    )
    assert simclr["online probe"] == "61.00 ± 1.00"  # the last evaluation of each seed: 60, 61, 62
    assert simclr["linear (L-BFGS)"] == f"82.00 ± {np.std([80, 82, 84], ddof=1):.2f}"
    assert simclr["kNN best"] == "74.00 ± 1.00 (k=200, T=0.5)"  # the (k, T) with the best mean
    assert simclr["linear (L-BFGS) 1 %"] == "51.00 ± 1.00"
    assert simclr["fine-tune 1 %"] == "–"
    assert simclr["effective rank"] == "11.00 ± 1.00 (collapsed: 1 of 3 seeds)"
    assert simclr["pretraining wall time (min)"] == "6.7"  # 400 s: both "run" lines of a resumed pretraining
    assert simclr["images/s"] == "400"  # (100 x 1000 + 300 x 200) / 400
    assert simclr["anchor"] == "92.10 (online probe; solo-learn)"
    supervised = dict(zip(header, rows["supervised"], strict=True))
    assert supervised["fine-tune 1 %"] == "62.00 ± 2.00" and supervised["pretraining"] == "–"
    assert supervised["anchor"] == "–"


def table_cells(table: str) -> list[dict]:
    """The rows of a report table as {column title: cell}."""
    lines = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in table.splitlines()]
    return [dict(zip(lines[0], line, strict=True)) for line in lines[2:]]


def test_a_sweep_puts_the_setting_that_differs_in_its_own_column_and_ignores_the_seed(tmp_path):
    for lr in (0.2, 0.8):
        for seed in (0, 1):
            write_run(
                tmp_path / f"lr{lr}_seed{seed}",
                config=pretrain_config("byol", seed, lr=lr),
                records=[record("linear_lbfgs", lr, seed=seed)],
            )
    rows = table_cells(report.report([str(tmp_path / "lr*")]))
    assert [(row["method"], row["optimiser"], row["seeds"]) for row in rows] == [
        ("byol", "lr 0.2", "2"),
        ("byol", "lr 0.8", "2"),
    ]


def test_runs_started_from_the_pretraining_of_their_own_seed_are_one_row(tmp_path):
    for seed in (0, 1):
        config = {
            **pretrain_config("fixmatch", seed),
            "init": {"workdir": f"runs/pretrain/simclr_seed{seed}/"},
        }
        write_run(
            tmp_path / f"s{seed}", config=config, records=[record("linear_lbfgs", 70.0 + seed, seed=seed)]
        )
    write_run(
        tmp_path / "scratch",
        config={**pretrain_config("fixmatch", 0), "init": {"workdir": ""}},
        records=[record("linear_lbfgs", 65.0)],
    )
    table = report.report([str(tmp_path / "s*"), str(tmp_path / "scratch")])
    # The run from scratch leaves init.workdir empty: unset, as a run from before the option. The seed of the
    # directory is written as a sweep writes it, nothing Markdown would read as an HTML tag.
    assert [(row["method"], row["initialised from"], row["seeds"]) for row in table_cells(table)] == [
        ("fixmatch", "runs/pretrain/simclr_seed{seed}", "2"),
        ("fixmatch", "–", "1"),
    ]
    # without the row from scratch the column stays: that the network started from SimCLR is the experiment
    (row,) = table_cells(report.report([str(tmp_path / "s[0-9]")]))
    assert row["initialised from"] == "runs/pretrain/simclr_seed{seed}"


def test_students_of_their_own_seeds_fine_tuned_teacher_are_one_row():
    assert [
        runs_lib.setting_value("teacher.workdir", f"runs/v2/simclr_seed{seed}/finetuned/labels0.01.npz")
        for seed in (0, 1)
    ] == ["runs/v2/simclr_seed{seed}/finetuned/labels0.01.npz"] * 2
    assert (
        runs_lib.setting_value("teacher.workdir", "runs/seed3/a_seed1/b_seed2/")
        == "runs/seed3/a_seed1/b_seed{seed}"
    )
    assert runs_lib.setting_value("optim.name", "lars_seed1") == "lars_seed1"


def test_runs_from_the_labels_of_their_own_seeds_active_learning_loop_are_one_row_per_strategy(tmp_path):
    for strategy in ("typiclust", "random"):
        for seed in (0, 1):
            indices = f"results/al/simclr_{strategy}_seed{seed}/labelled_20.txt"
            config = {
                **semisup_config("fixmatch", seed, labelled_indices=indices),
                "init": {"workdir": "runs/simclr"},
            }
            top1 = {"typiclust": 0.7, "random": 0.6}[strategy] + seed / 100
            write_run(
                tmp_path / f"{strategy}_seed{seed}", config=config, records=[record("classifier", top1)]
            )
    rows = table_cells(report.report([str(tmp_path / "typiclust_*"), str(tmp_path / "random_*")]))
    assert {row["labels"]: (row["seeds"], row["own classifier"]) for row in rows} == {
        "the rows of simclr_typiclust_seed{seed}/labelled_20.txt": ("2", "70.50 ± 0.71"),
        "the rows of simclr_random_seed{seed}/labelled_20.txt": ("2", "60.50 ± 0.71"),
    }


def test_a_seed_run_twice_is_two_rows_named_by_their_directories_not_a_mean(tmp_path):
    for name, top1 in (("before_fix", 0.70), ("after_fix", 0.80)):
        write_run(tmp_path / name, config=pretrain_config("dino", 0), records=[record("linear_lbfgs", top1)])
    write_run(
        tmp_path / "after_fix_seed1", config=pretrain_config("dino", 1), records=[record("linear_lbfgs", 0.9)]
    )
    rows = table_cells(report.report([str(tmp_path / "*")]))
    cells = {row["runs"]: (row["method"], row["seeds"], row["linear (L-BFGS)"]) for row in rows}
    assert cells == {
        "after_fix, after_fix_seed1": ("dino", "2", "85.00 ± 7.07"),
        "before_fix": ("dino", "1", "70.00"),
    }


def semisup_config(method, seed, **semisup):
    return {**pretrain_config(method, seed), "data": {"dataset": "fashion_mnist"}, "semisup": semisup}


def test_methods_come_first_going_up_in_label_count_then_the_baselines(tmp_path):
    counts = {"f": {"label_fraction": 0.01, "labels_per_class": 0}, "pc": {"labels_per_class": 10}}
    for name, semisup in counts.items():
        write_run(
            tmp_path / f"a_supervised_{name}",
            config=semisup_config("supervised", 0, **semisup),
            records=[record("linear_lbfgs", 0.5)],
        )
        baseline = [record("linear_lbfgs", 0.4, init="random")] if name == "f" else []
        write_run(
            tmp_path / f"b_fixmatch_{name}",
            config=semisup_config("fixmatch", 0, **semisup),
            records=[record("linear_lbfgs", 0.6), *baseline],
        )
    rows = table_cells(report.report([str(tmp_path / "*")]))
    assert [(row["method"], row["labels"]) for row in rows] == [
        ("fixmatch", "100 (10 per class)"),
        ("fixmatch", "600 (1 %)"),
        ("random init", "–"),
        ("supervised", "100 (10 per class)"),
        ("supervised", "600 (1 %)"),
    ]


def test_a_step_evaluated_twice_by_a_resumed_run_is_read_from_its_later_line():
    lines = [
        {"step": 900, "split": "eval", "linear_top1": 0.70, "classifier_top1": 0.71},  # before the crash
        {"step": 800, "split": "eval", "linear_top1": 0.68, "classifier_top1": 0.69},  # resumed at 800
        {"step": 900, "split": "eval", "linear_top1": 0.72, "classifier_top1": 0.73},
    ]
    summary = runs_lib.training_summary(lines)
    assert summary["online_probe"] == pytest.approx(72.0) and summary["classifier"] == pytest.approx(73.0)


def test_baselines_of_one_directory_are_separate_rows(tmp_path):
    write_run(
        tmp_path / "baselines",
        config=pretrain_config("simclr", 0),
        records=[
            record("linear_lbfgs", 0.65, init="random"),
            {**record("linear_lbfgs", 0.84), "features": "pixels", "init": None},
        ],
    )
    table = report.report([str(tmp_path / "baselines")])
    names = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    assert names == ["random init", "raw pixels"]
    backbones = [line.split("|")[2].strip() for line in table.splitlines()[2:]]
    assert backbones == ["resnet10 x0.25", "–"]  # pixels went through no network


def test_a_vit_row_names_its_patch_size_so_token_grids_are_told_apart(tmp_path):
    vit = {"backbone": "vit_tiny", "width_multiplier": 1.0, "patch_size": 4}
    write_run(
        tmp_path / "ibot",
        config={**pretrain_config("ibot", 0), "method": {"name": "ibot"}, "model": vit},
        records=[record("linear_lbfgs", 0.8, backbone="vit_tiny", width_multiplier=1.0)],
    )
    write_run(  # a random-init run keeps no config: its records' header names the patch size
        tmp_path / "scratch",
        records=[
            record("finetune", 0.8, init="random", backbone="vit_tiny", width_multiplier=1.0, patch_size=7)
        ],
    )
    table = report.report([str(tmp_path / "ibot"), str(tmp_path / "scratch")])
    backbones = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in table.splitlines()[2:]}
    assert backbones == {"ibot": "vit_tiny/4", "supervised": "vit_tiny/7"}


def test_a_config_named_apart_from_its_method_is_its_own_row(tmp_path):
    for name in ("", "dinov2"):
        config = {**pretrain_config("ibot", 0), "method": {"name": "ibot"}, "name": name}
        write_run(
            tmp_path / (name or "ibot"), config=config, records=[record("linear_lbfgs", 0.8, method="ibot")]
        )
    table = report.report([str(tmp_path / "ibot"), str(tmp_path / "dinov2")])
    assert sorted(line.split("|")[1].strip() for line in table.splitlines()[2:]) == ["dinov2", "ibot"]
    assert "name" not in table.splitlines()[0]  # the name labels the row; it is no setting column


def test_the_table_and_the_curves_are_written_where_asked(runs, tmp_path):
    output, curves = tmp_path / "out" / "table.md", tmp_path / "out" / "curves.png"
    text = report.report([str(runs / "simclr_seed*")], output=str(output), curves=str(curves))
    assert output.read_text() == text
    assert curves.read_bytes()[:4] == b"\x89PNG"


def test_exported_records_report_the_same_table_and_grow_with_their_runs(runs):
    patterns = [str(runs / "simclr_seed*"), str(runs / "supervised_seed*")]
    kept = runs / "kept"
    written = runs_lib.export_records(runs_lib.run_directories(patterns), str(kept))
    assert sorted(os.listdir(kept)) == [
        f"{kind}_seed{s}" for kind in ("simclr", "supervised") for s in (0, 1, 2)
    ]
    assert all(not path.endswith((".png", "checkpoints")) for path in written)
    assert report.report([str(kept / "*")]) == report.report(patterns)
    with open(runs / "simclr_seed0" / "offline_eval.jsonl", "a") as f:
        f.write(json.dumps(record("linear_lbfgs", 0.9, fraction=0.1)) + "\n")
    # a log that grew replaces its older copy, a prefix of it
    runs_lib.export_records(runs_lib.run_directories(patterns), str(kept))
    assert "linear (L-BFGS) 10 %" in report.report([str(kept / "*")])


def test_an_export_never_overwrites_other_records_and_writes_nothing_then(runs):
    kept = runs / "kept"
    write_run(kept / "simclr_seed1", config=pretrain_config("simclr", 1, lr=0.8))
    with pytest.raises(FileExistsError, match="simclr_seed1/config.json already holds other records"):
        runs_lib.export_records(runs_lib.run_directories([str(runs / "simclr_seed*")]), str(kept))
    assert sorted(os.listdir(kept)) == ["simclr_seed1"]
    assert sorted(os.listdir(kept / "simclr_seed1")) == ["config.json"]


def test_seeds_fine_tuned_with_different_recipes_are_marked(tmp_path):
    for seed, optimizer in ((0, "sgd"), (1, "lars"), (2, "lars")):
        write_run(
            tmp_path / f"pretrained_seed{seed}",
            records=[record("finetune", 0.8, seed=seed, recipe={"optimizer": optimizer})],
        )
    assert "| 80.00 ± 0.00 (mixed recipes) |" in report.report([str(tmp_path / "pretrained_seed*")])
    assert "mixed" not in report.report([str(tmp_path / "pretrained_seed[12]")])


def test_a_top5_beside_a_top1_is_its_own_column_after_it(tmp_path):
    for seed in (0, 1):
        records = [record("finetune", 0.8, fraction=0.01, seed=seed, top5=0.97 + seed / 100)]
        write_run(tmp_path / f"simclr_seed{seed}", records=records)
    (row,) = table_cells(report.report([str(tmp_path / "simclr_seed*")]))
    titles = list(row)
    assert titles.index("fine-tune top-5 1 %") == titles.index("fine-tune 1 %") + 1
    assert row["fine-tune top-5 1 %"] == "97.50 ± 0.71"


def test_few_shot_columns_go_by_setting_whichever_row_names_a_classifier_first(tmp_path):
    def episodes(shots, *names):
        classifiers = {name: {"top1": 0.5, "ci95": 0.01, "episodes": 10} for name in names}
        return record("episodes", 0.5, ways=5, shots=shots, classifiers=classifiers)

    write_run(tmp_path / "a", records=[episodes(1, "logistic"), episodes(5, "logistic")])
    write_run(tmp_path / "b", records=[episodes(1, "logistic", "adapted"), record("fewshot", 0.4, shots=2)])
    titles = [title for title in table_cells(report.report([str(tmp_path / "a"), str(tmp_path / "b")]))[0]]
    shots = [title for title in titles if "shot" in title]
    assert shots == ["2-shot probe", "5-way 1-shot logistic", "5-way 1-shot adapted", "5-way 5-shot logistic"]


def test_a_cell_that_not_every_seed_measured_says_how_many_did(tmp_path):
    for seed in (0, 1, 2):
        grid = {"20/0.07": 0.7 + seed / 100}
        records = [
            record("linear_lbfgs", 0.8, seed=seed),
            record("knn", 0.7, seed=seed, grid={"backbone": grid}),
        ]
        write_run(tmp_path / f"simclr_seed{seed}", records=records[: 1 if seed == 2 else 2])
    table = report.report([str(tmp_path / "simclr_seed*")])
    assert "| 80.00 ± 0.00 | 70.50 ± 0.71 (k=20, T=0.07, 2 of 3 seeds) |" in table


def test_the_supervised_baseline_of_each_optimiser_is_its_own_row(tmp_path):
    for seed in (0, 1):
        for optimizer, top1 in (("sgd", 0.8), ("lars", 0.7)):
            write_run(
                tmp_path / f"supervised_{optimizer}_seed{seed}",
                records=[record("finetune", top1, init="random", seed=seed, recipe={"optimizer": optimizer})],
            )
    rows = report.report([str(tmp_path / "supervised_*")]).splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == ["| supervised (lars)", "| supervised (sgd)"]
    assert [row.split(" | ")[5] for row in rows] == ["70.00 ± 0.00 |", "80.00 ± 0.00 |"]


def test_a_pattern_naming_no_run_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no run directory"):
        report.report([str(tmp_path / "empty")])


def test_lines_of_the_first_offline_evaluation_are_read_as_their_protocols(tmp_path):
    legacy = {
        "features": "network",
        "init": "checkpoint",
        "step": 938,
        "knn_top1_k20": 0.8425,
        "knn_top1_k200": 0.8211,
        "knn_temperature": 0.07,
        "linear_top1": 0.867,
        "feature_std_mean": 0.0521,
        "feature_std_min": 0.0113,
    }
    write_run(tmp_path / "old", config=pretrain_config("simclr", 0), records=[legacy])
    table = report.report([str(tmp_path / "old")])
    assert "86.70" in table and "84.25 (k=20, T=0.07)" in table
    fixed = report.report([str(tmp_path / "old")], knn_points=((20, 0.07), (200, 0.07)))
    assert fixed.splitlines()[0].split(" | ")[6:9] == [
        "kNN k=20 T=0.07",
        "kNN k=200 T=0.07",
        "feature std mean / min",
    ]
    assert "| 84.25 | 82.11 | 0.052 / 0.011 |" in fixed


def test_per_layer_probes_are_columns_in_the_network_order(tmp_path):
    for seed in (0, 1):
        layers = {"conv1": 0.30 + seed / 100, "conv2": 0.40, "conv5": 0.35}
        records = [record("linear_lbfgs", 0.5, seed=seed), record("layers", seed=seed, layers=layers)]
        write_run(tmp_path / f"rotnet_seed{seed}", records=records)
    table = report.report([str(tmp_path / "rotnet_seed*")])
    assert "| linear (L-BFGS) | linear conv1 | linear conv2 | linear conv5 |" in table
    assert "| 50.00 ± 0.00 | 30.50 ± 0.71 | 40.00 ± 0.00 | 35.00 ± 0.00 |" in table


def test_the_paired_difference_is_students_paired_t_over_the_shared_seeds():
    first = {0: 80.0, 1: 82.0, 2: 85.0, 3: 90.0}  # seed 3 has no partner
    second = {0: 79.0, 1: 80.0, 2: 84.5, 4: 10.0}
    result = compare.paired_difference(first, second)
    differences = [1.0, 2.0, 0.5]
    mean = sum(differences) / 3
    std = (sum((d - mean) ** 2 for d in differences) / 2) ** 0.5
    reference = stats.ttest_rel([80.0, 82.0, 85.0], [79.0, 80.0, 84.5])
    assert (
        result["seeds"] == 3 and result["mean"] == pytest.approx(mean) and result["std"] == pytest.approx(std)
    )
    assert result["t"] == pytest.approx(mean / (std / 3**0.5)) == pytest.approx(reference.statistic)
    assert result["p"] == pytest.approx(reference.pvalue)
    one_seed = compare.paired_difference({0: 1.0}, {0: 0.5, 1: 3.0})
    assert (one_seed["seeds"], one_seed["mean"], one_seed["t"], one_seed["p"]) == (1, 0.5, None, None)
    assert compare.paired_difference({0: 1.0}, {1: 1.0})["seeds"] == 0


def test_compare_adds_each_pairs_differences_seed_by_seed_on_the_protocols_both_measured(tmp_path):
    for seed, (ours, theirs) in enumerate([(0.80, 0.79), (0.82, 0.80), (0.85, 0.845)]):
        write_run(
            tmp_path / f"simclr_seed{seed}",
            config=pretrain_config("simclr", seed),
            records=[record("linear_lbfgs", ours, seed=seed), record("linear_lbfgs", 0.5, 0.01, seed=seed)],
        )
        write_run(
            tmp_path / f"byol_seed{seed}",
            config=pretrain_config("byol", seed),
            records=[record("linear_lbfgs", theirs, seed=seed)],
        )
    patterns = [str(tmp_path / "simclr_seed*"), str(tmp_path / "byol_seed*")]
    text = report.report(patterns, pairs=compare.parse_pairs(["2:1"]))  # the rows in directory order
    assert text.startswith(report.report(patterns))
    reference = stats.ttest_rel([80.0, 82.0, 85.0], [79.0, 80.0, 84.5])
    # The 1 % probe is simclr's alone: no column for it.
    assert text.splitlines()[-3:] == [
        "| compared | linear (L-BFGS) |",
        "|---|---|",
        f"| simclr − byol | +1.17 ± 0.76 (n = 3, t = {reference.statistic:.2f}, p = {reference.pvalue:.3g}) |",
    ]


def test_pairs_at_several_label_counts_are_a_matrix_of_label_count_by_comparison(tmp_path):
    differences = {}
    for seed in (0, 1, 2):
        for per_class in (10, 4):
            ours, theirs = 0.7 + per_class / 100 + seed / 50, 0.6 + per_class / 200 + seed / 40
            differences.setdefault(per_class, []).append(100 * (ours - theirs))
            for method, top1 in (("fixmatch", ours), ("supervised", theirs)):
                write_run(
                    tmp_path / f"{method}_{per_class}_seed{seed}",
                    config=semisup_config(method, seed, labels_per_class=per_class),
                    records=[record("linear_lbfgs", top1, seed=seed)],
                )
    # fixmatch 40, fixmatch 100, supervised 40, supervised 100
    text = report.report([str(tmp_path / "*")], pairs=compare.parse_pairs(["1:3", "2:4"]))
    lines = text.split("\n\n")[1].splitlines()
    cells = [
        compare.difference_cell(dict(enumerate(differences[per_class])), dict.fromkeys(range(3), 0.0))
        for per_class in (4, 10)
    ]
    assert lines == [
        "| linear (L-BFGS): labels | fixmatch − supervised |",
        "|---|---|",
        f"| 40 (4 per class) | {cells[0]} |",
        f"| 100 (10 per class) | {cells[1]} |",
    ]
    assert cells[0].startswith("+11.50 ± 0.50 (n = 3, t = 39.84")  # 12, 11.5 and 11 points


def test_rows_without_a_seed_in_common_are_said_to_be_incomparable(tmp_path):
    write_run(tmp_path / "a", config=pretrain_config("simclr", 0), records=[record("linear_lbfgs", 0.8)])
    write_run(
        tmp_path / "b", config=pretrain_config("byol", 1), records=[record("linear_lbfgs", 0.7, seed=1)]
    )
    text = report.report([str(tmp_path / "*")], pairs=((2, 1),))
    assert text.splitlines()[-1] == "| byol − simclr | no seed in common |"


def test_a_cell_never_holds_markdown_that_renders_as_html_or_ends_the_cell(tmp_path):
    for seed in (0, 1):
        config = {**pretrain_config("byol", seed), "augment": {"preset": "a<b>|c" if seed else "plain"}}
        write_run(tmp_path / f"run{seed}", config=config, records=[record("linear_lbfgs", 0.5, seed=seed)])
    rows = report.report([str(tmp_path / "*")]).splitlines()
    assert rows[0].split(" | ")[1] == "augment.preset"
    assert rows[3].split(" | ")[1] == "a\\<b\\>\\|c"


def drawn_figures(monkeypatch) -> list:
    """The figures the plots draw from now on, kept instead of saved."""
    figures = []
    monkeypatch.setattr(plots, "_save", lambda figure, path: figures.append(figure))
    return figures


def test_the_curves_name_each_row_once_and_draw_no_value_where_none_exists(tmp_path, monkeypatch):
    for seed in (0, 1):
        write_run(
            tmp_path / f"fixmatch_seed{seed}",
            config=pretrain_config("fixmatch", seed),
            metrics=[
                {"step": 10, "split": "train", "loss": 2.0, "mask_rate": 0.0, "pseudo_label_top1": 0.0},
                {"step": 20, "split": "train", "loss": 1.5, "mask_rate": 0.1, "pseudo_label_top1": math.nan},
                {"step": 30, "split": "train", "loss": 1.0, "mask_rate": 0.2, "pseudo_label_top1": 0.9},
            ],
        )
    figures = drawn_figures(monkeypatch)
    report.report([str(tmp_path / "*")], curves=str(tmp_path / "curves.png"))
    (figure,) = figures
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["fixmatch (2 seeds)"]
    accuracy = next(axis for axis in figure.axes if axis.get_title().startswith("pseudo-label"))
    assert [list(line.get_xdata()) for line in accuracy.get_lines()] == [[30], [30]]


def test_the_tsne_legend_names_the_classes(tmp_path, monkeypatch):
    figures = drawn_figures(monkeypatch)
    points, labels = np.zeros((4, 2)), np.array([0, 1, 9, 1])
    plots.tsne_plot(points, labels, str(tmp_path / "a.png"), "t-SNE", catalog.CLASS_NAMES["fashion_mnist"])
    plots.tsne_plot(points, labels, str(tmp_path / "b.png"), "t-SNE")
    legends = [[text.get_text() for text in f.axes[0].get_legend().get_texts()] for f in figures]
    assert legends == [["T-shirt/top", "Trouser", "Ankle boot"], ["0", "1", "9"]]


def test_a_pair_may_compare_each_row_on_its_own_column_seed_by_seed(tmp_path):
    assert compare.parse_pairs(["2[fine-tune 1 %]:1[own classifier]", "1:2[linear (L-BFGS)]"]) == (
        compare.Pair(2, 1, "fine-tune 1 %", "own classifier"),
        compare.Pair(1, 2, "linear (L-BFGS)", "linear (L-BFGS)"),
    )
    for seed, (student, teacher) in enumerate([(0.81, 0.80), (0.83, 0.80), (0.84, 0.835)]):
        write_run(
            tmp_path / f"simclr_seed{seed}",
            config=pretrain_config("simclr", seed),
            records=[record("finetune", teacher, 0.01, seed=seed), record("linear_lbfgs", 0.5, seed=seed)],
        )
        write_run(
            tmp_path / f"byol_seed{seed}",
            config=pretrain_config("byol", seed),
            records=[record("linear_lbfgs", student, seed=seed)],
        )
    patterns = [str(tmp_path / "simclr_seed*"), str(tmp_path / "byol_seed*")]
    pairs = compare.parse_pairs(["1[linear (L-BFGS)]:2[fine-tune 1 %]", "1:2"])  # byol's row comes first
    text = report.report(patterns, pairs=pairs)
    reference = stats.ttest_rel([81.0, 83.0, 84.0], [80.0, 80.0, 83.5])
    plain = stats.ttest_rel([81.0, 83.0, 84.0], [50.0, 50.0, 50.0])
    assert text.splitlines()[-7:] == [
        "| compared | linear (L-BFGS) |",
        "|---|---|",
        f"| byol − simclr | +32.67 ± 1.53 (n = 3, t = {plain.statistic:.2f}, p = {plain.pvalue:.3g}) |",
        "",
        "| compared | paired difference |",
        "|---|---|",
        "| byol (linear (L-BFGS)) − simclr (fine-tune 1 %) | "
        f"+1.50 ± 1.32 (n = 3, t = {reference.statistic:.2f}, p = {reference.pvalue:.3g}) |",
    ]


def test_a_compared_row_is_named_by_the_fewest_settings_that_tell_it_from_its_methods_other_rows():
    labels = report_rows.Setting("labels", lambda settings: settings.get("labels", ""))
    teacher = report_rows.Setting("teacher", lambda settings: settings.get("teacher", ""))
    init = report_rows.Setting("initialised from", lambda settings: settings.get("init", ""))
    rows = [
        report_rows.Row("distill", {"labels": "600", "teacher": "a/labels0.01.npz"}, []),
        report_rows.Row("distill", {"labels": "6,000", "teacher": "a/labels0.1.npz"}, []),
        report_rows.Row("fixmatch", {"labels": "600", "init": "runs/simclr"}, []),
        report_rows.Row("fixmatch", {"labels": "600"}, []),
        report_rows.Row("supervised", {"labels": "600"}, []),
    ]
    columns = [labels, teacher, init]
    named = [report_rows.distinguished(row, rows, columns) for row in rows]
    assert named == [
        "distill (labels 600)",
        "distill (labels 6,000)",
        "fixmatch (initialised from runs/simclr)",
        "fixmatch",
        "supervised",
    ]
    assert (
        report_rows.distinguished(rows[0], rows, columns, leave_out="labels")
        == "distill (teacher a/labels0.01.npz)"
    )


def test_bad_compare_pairs_are_errors_before_anything_is_written(tmp_path):
    for spec, message in (
        ("2", "ROW:ROW"),
        ("0:1", "ROW:ROW"),
        ("a:1", "ROW:ROW"),
        ("2:2", "with itself"),
        ("2[fine-tune]:2", "with itself"),
        ("2[fine-tune:1", "ROW:ROW"),
    ):
        with pytest.raises(ValueError, match=message):
            compare.parse_pairs([spec])
    write_run(tmp_path / "run", config=pretrain_config("simclr", 0), records=[record("linear_lbfgs", 0.8)])
    output = tmp_path / "out" / "table.md"
    with pytest.raises(ValueError, match="the table has 1 rows"):
        report.report([str(tmp_path / "run")], output=str(output), pairs=((1, 3),))
    with pytest.raises(ValueError, match="no column 'fine-tune'; its columns are 'linear \\(L-BFGS\\)'"):
        report.report(
            [str(tmp_path / "run")],
            output=str(output),
            pairs=compare.parse_pairs(["1[fine-tune]:1[linear (L-BFGS)]"]),
        )
    assert not output.exists()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"semisup.labels_per_class": 10}, (100, "10 per class")),
        ({"semisup.label_fraction": 0.01}, (600, "1 %")),
        ({"semisup.label_fraction": 1.0, "data.classes": [0, 1, 2, 3, 4]}, (30000, "100 %")),
        ({"semisup.labels_per_class": 4, "data.classes": [0, 2]}, (8, "4 per class")),
        (
            {"semisup.labelled_indices": "runs/al/round2/labelled.npy"},
            (None, "the rows of round2/labelled.npy"),
        ),
        ({}, (None, "")),
    ],
)
def test_the_label_count_counts_the_kept_classes_and_names_a_file_of_rows(settings, expected):
    assert report_rows.label_count({"data.dataset": "fashion_mnist", **settings}) == expected


def write_reference(path, rows, columns=("top-1 1 %", "top-5 1 %")):
    path.write_text(json.dumps({"source": "A paper, Table 7", "columns": list(columns), "rows": rows}))
    return str(path)


def published(name, method, network="ResNet-50", **values):
    return {"name": name, "network": network, "method": method, "values": values}


def test_a_reference_orders_the_rows_as_the_paper_beside_its_numbers_and_keeps_its_unmeasured_rows(
    runs, tmp_path
):
    write_run(tmp_path / "byol", config=pretrain_config("byol", 0), records=[record("linear_lbfgs", 0.7)])
    path = write_reference(
        tmp_path / "paper.json",
        [
            published("Supervised", "supervised", **{"top-1 1 %": 25.4, "top-5 1 %": 48.4}),
            published("VAT", "vat", **{"top-5 1 %": 47.0}),
            published("BigBiGAN", "", network="RevNet-50 (4x)", **{"top-5 1 %": 55.2}),
            published("SimCLR", "simclr", **{"top-1 1 %": 48.3}),
        ],
    )
    patterns = [str(runs / "simclr_seed*"), str(runs / "supervised_seed*"), str(tmp_path / "byol")]
    rows = table_cells(report.report(patterns, reference=reference.load(path)))
    columns = ("method", "seeds", "paper's row", "top-1 1 % (paper)", "top-5 1 % (paper)", "fine-tune 1 %")
    assert [tuple(row[title] for title in columns) for row in rows] == [
        ("supervised", "3", "Supervised, ResNet-50", "25.4", "48.4", "62.00 ± 2.00"),
        ("vat", "–", "VAT, ResNet-50", "–", "47.0", "–"),
        ("–", "–", "BigBiGAN, RevNet-50 (4x)", "–", "55.2", "–"),
        ("simclr", "3", "SimCLR, ResNet-50", "48.3", "–", "–"),
        ("byol", "1", "–", "–", "–", "–"),
    ]
    assert rows[3]["linear (L-BFGS)"] == "82.00 ± 2.00" and rows[1]["linear (L-BFGS)"] == "–"
    plain = table_cells(report.report(patterns))
    assert [row["method"] for row in plain] == ["byol", "simclr", "supervised"]
    assert "paper's row" not in plain[0]
    compared = report.report(patterns, reference=reference.load(path), pairs=compare.parse_pairs(["4:1"]))
    assert "simclr − supervised" in compared
    with pytest.raises(ValueError, match="row 3 is a paper's row that no run measured"):
        report.report(patterns, reference=reference.load(path), pairs=compare.parse_pairs(["4:3"]))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not JSON"),
        ('{"source": "x", "columns": ["a"]}', 'exactly the keys "source", "columns" and "rows"'),
        ('{"source": "x", "columns": ["a", "a"], "rows": []}', "distinct, non-empty column titles"),
        ('{"source": "", "columns": ["a"], "rows": [{}]}', "must name the paper"),
        ('{"source": "x", "columns": ["a"], "rows": []}', "non-empty list"),
        ('{"source": "x", "columns": ["a"], "rows": [{"name": "A"}]}', "row 1 must be an object"),
        (
            '{"source": "x", "columns": ["a"], "rows": [{"name": "A", "network": "", "method": "m", '
            '"values": {"b": 1}}]}',
            r"row 1 \(A\): values are by column, of the columns \['a'\]",
        ),
        (
            '{"source": "x", "columns": ["a"], "rows": [{"name": "A", "network": "", "method": "m", '
            '"values": {"a": "25.4"}}]}',
            "'a' is '25.4', not a number",
        ),
        (
            '{"source": "x", "columns": ["a"], "rows": [{"name": "A", "network": "", "method": "m", '
            '"values": {}}, {"name": "B", "network": "", "method": "m", "values": {}}]}',
            "each method belongs to one published row; m to several",
        ),
    ],
)
def test_a_bad_reference_file_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "paper.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        reference.load(str(path))


def test_the_report_command_refuses_bad_input_in_one_line_and_writes_nothing(runs, tmp_path):
    output = tmp_path / "out" / "table.md"
    for arguments, message in (
        (["--compare=2"], "error: --compare takes ROW:ROW pairs"),
        (
            [f"--reference={tmp_path / 'missing.json'}"],
            "missing.json: cannot be read (No such file or directory)",
        ),
    ):
        command = [sys.executable, "-m", "jaxssl.report", str(runs / "simclr_seed*"), f"--output={output}"]
        finished = subprocess.run(command + arguments, capture_output=True, text=True, cwd=REPO)
        assert finished.returncode == 1
        assert finished.stderr.strip().splitlines() == [finished.stderr.strip()]
        assert message in finished.stderr
    assert not output.parent.exists()
