"""The study's small CSV tables, from the real mini sweep's run folders."""

import csv
import json
import re
import shutil
import subprocess

import pytest
import torch

from yololab.study.results import cost
from yololab.study.runs import load_runs_dir
from yololab.study.sections import cost_line
from yololab.study.tables import command_of, write_tables


def cpu_model_from_lscpu() -> str:
    if shutil.which("lscpu") is None:
        pytest.skip("lscpu is not installed")
    out = subprocess.run(["lscpu"], capture_output=True, text=True, env={"LC_ALL": "C"}).stdout
    return re.search(r"^Model name:\s*(.+)$", out, re.M)[1].strip()


def read(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_tables_hold_every_run_and_every_epoch(mini_sweep, tmp_path):
    _, runs_dir, _ = mini_sweep
    runs = load_runs_dir(runs_dir)
    runs_csv, curves_csv = write_tables(runs, runs_dir, tmp_path)
    rows = read(runs_csv)
    assert sorted((r["arm"], int(r["seed"])) for r in rows) == [("leaky_relu:0.1", 0), ("leaky_relu:0.1", 1),
                                                                 ("relu", 0), ("relu", 1)]
    for row in rows:
        final = json.loads((runs_dir / row["run"] / "metrics.json").read_text())
        assert float(row["val/mAP50-95"]) == pytest.approx(final["val/mAP50-95"], abs=1e-12)
        assert int(row["epochs"]) == 2 and float(row["wall_s"]) > 0
        assert "scripts/train.py" in row["command"] and f"seed={row['seed']}" in row["command"]
        assert row["threads"] == "default"  # the mini sweep sets no thread count
        # the environment the numbers depend on, against lscpu and torch's own version
        assert row["cpu_model"] == cpu_model_from_lscpu() and row["torch"] == torch.__version__
        assert row["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
        assert re.fullmatch(r"\d+(\.\d+)+", row["onednn"]) and int(row["torch_threads"]) >= 1
    curves = read(curves_csv)
    assert len(curves) == 8  # 4 runs x 2 epochs
    last = next(c for c in curves if c["run"] == rows[0]["run"] and c["epoch"] == "1")
    final = json.loads((runs_dir / rows[0]["run"] / "metrics.json").read_text())
    assert float(last["val/mAP50"]) == pytest.approx(final["val/mAP50"], abs=1e-9)
    layer_columns = [k for k in last if k.startswith("gradflow/grad_norm/head.")]
    norms = [float(last[k]) for k in layer_columns]  # a level without positives can have a zero box gradient
    assert norms and min(norms) >= 0 and max(norms) > 0
    assert any(k.startswith("gradflow/dead_fraction/head.") for k in last)


def test_a_resumed_runs_command_is_the_one_it_started_with(tmp_path):
    (tmp_path / "console.log").write_text("$ python scripts/train.py seed=1\ntraining...\nKilled\n"
                                          "$ python scripts/train.py seed=1 'ckpt_path=/r/last.ckpt'\nresumed\n")
    assert command_of(tmp_path) == "python scripts/train.py seed=1"


def test_the_report_states_the_runs_compute(mini_sweep):
    _, runs_dir, _ = mini_sweep
    runs = load_runs_dir(runs_dir)
    logged = [[row for row in read(runs_dir / r.name / "csv" / "metrics.csv") if row.get("time/train_s")]
              for r in runs]  # the epochs' rows, straight from each run's CSV log
    seconds = [sum(float(row["time/train_s"]) + float(row["time/val_s"]) for row in rows) for rows in logged]
    assert len(seconds) == 4 and all(s > 0 for s in seconds)
    text = cost_line(cost(runs))
    assert text.startswith(f"Compute: {sum(seconds) / 3600:.2f} h of training and validation in all")
    median = (sorted(seconds)[1] + sorted(seconds)[2]) / 2  # four runs: the mean of the middle two (was the 3rd)
    assert f"median {median / 60:.1f} min" in text and "CPU threads per run: default;" in text


def test_the_power_table_reads_the_measured_spread():
    from yololab.study import stats
    from yololab.study.design import Design
    from yololab.study.families import Comparisons
    from yololab.study.results import power
    from yololab.study.sections import section_power

    comps = Comparisons({}, "paired_t", 0.05)
    comps.items = {"a": {"sd": 0.006, "n": 4}, "b": {"sd": 0.008, "n": 4}}
    sd = (0.006**2 / 2 + 0.008**2 / 2) ** 0.5  # 0.00707: root mean square of the two
    found = power(comps, ["a", "b"], Design(test="paired_t"))
    results = {"power": found, "quantities": {"val/mAP50-95": {"label": "val/mAP50-95", "unit": "mAP points",
                                                               "factor": 100.0}},
               "design": {"test_name": "paired t-test"}}
    t_text = section_power(results)
    assert "vary by 0.71 mAP points" in t_text
    cell = 100 * stats.min_detectable(sd, 5, 0.05, 2, floor=0.0)
    assert f"| 2 comparisons | {100 * stats.min_detectable(sd, 3, 0.05, 2, floor=0.0):.2f} | " in t_text
    assert f" | {cell:.2f} | " in t_text.splitlines()[-1] + " "
    # the sign-flip test: with 3 or 4 seeds p >= 0.125, nothing can pass α = 0.05
    assert "| 1 comparison | none | none | " in section_power({**results, "power": power(comps, ["a", "b"], Design())})
