"""The study benchmark (scripts/benchmark_study.py): its estimate of a full run from three measured epochs,
by hand, and one real benchmark run of every way of sharing the CPU on the synthetic data (slow)."""

import json

import pytest
import yaml
from tests.conftest import MINI_SWEEP_OVERRIDES, REPO, mini_sweep_file, working_dir

from yololab.study.throughput import (
    CADENCES,
    Measured,
    StudyRun,
    Variant,
    chosen_ways,
    cores,
    epoch_times,
    full_run_seconds,
    main,
    speed_up,
    table,
)


def test_a_full_run_is_the_measured_one_plus_its_remaining_epochs_at_their_pace():
    epochs = [(10.0, 2.0), (8.0, 2.0), (5.0, 1.0)]  # (train s, val s): mosaic, mosaic (warm cache), plain
    study = StudyRun(epochs=15, close_mosaic=10)
    # 5 mosaic epochs (2 measured), 10 plain (1 measured); 15 validations (3 measured) at the second epoch's 2 s
    assert full_run_seconds(100.0, epochs, study, cadence=1) == 100 + 3 * 8 + 9 * 5 + 12 * 2
    # every 3rd epoch validates: 5 validations, 2 more than measured
    assert full_run_seconds(100.0, epochs, study, cadence=3) == 100 + 3 * 8 + 9 * 5 + 2 * 2


def test_the_table_names_the_fastest_way():
    slow = Measured("jobs 1 x 2 threads", 1, 2, 90.0, 30.0, 25.0, 3.0, dict.fromkeys(CADENCES, 6.0))
    fast = Measured("jobs 2 x 1 thread", 2, 1, 150.0, 50.0, 44.0, 5.0, dict.fromkeys(CADENCES, 7.5))
    text = table([slow, fast], StudyRun(15, 10))
    assert "fastest (validating every epoch): jobs 2 x 1 thread, 7.50 runs/h" in text


def test_the_speed_up_is_the_ratio_of_runs_per_hour_way_by_way():
    before = Measured("jobs 2 x 1 thread", 2, 1, 150.0, 50.0, 44.0, 5.0, {1: 4.0, 3: 5.0, 5: 6.0})
    after = Measured("jobs 2 x 1 thread", 2, 1, 60.0, 20.0, 20.0, 2.0, {1: 22.0, 3: 30.0, 5: 40.0})
    text = speed_up([after], [before])
    assert "jobs 2 x 1 thread: 5.50x the runs per hour (22.00 against 4.00, validating every epoch)" in text
    with pytest.raises(ValueError):  # ways that do not pair up
        speed_up([after, after], [before])


def test_epoch_times_read_the_csv_log_and_name_a_log_without_epochs(tmp_path):
    log = tmp_path / "metrics.csv"
    log.write_text("epoch,step,time/train_s,time/val_s,train/loss_step\n0,0,,,1.0\n0,1,31.5,3.25,\n1,3,28.0,3.0,\n")
    assert epoch_times(log) == [(31.5, 3.25), (28.0, 3.0)]
    log.write_text("epoch,step,train/loss_step\n0,0,1.0\n")
    with pytest.raises(ValueError, match=r"metrics\.csv: no time/train_s rows"):
        epoch_times(log)


def test_jobs_picks_one_way_and_names_an_impossible_one(tmp_path, capsys):
    assert chosen_ways(2, 2) == [Variant("jobs 2 x 1 thread", 2, 1)]
    assert chosen_ways(2, 1) == [Variant("jobs 1 x 2 threads", 1, 2)]
    assert len(chosen_ways(2)) == 3 and chosen_ways(2, 5) == []
    with working_dir(REPO):
        assert main([str(mini_sweep_file(tmp_path)), "--jobs", str(cores() + 3)]) == 2
    assert f"--jobs {cores() + 3}: the ways measured here run 1 or {cores()} jobs" in capsys.readouterr().err


@pytest.mark.slow
def test_the_benchmark_runs_every_way_of_sharing_the_cpu_and_estimates_runs_per_hour(tmp_path, synthetic_root):
    extra = [*MINI_SWEEP_OVERRIDES, f"data.root={synthetic_root}", "trainer.max_epochs=15"]
    out, runs = tmp_path / "benchmark.json", tmp_path / "runs"
    with working_dir(REPO):
        assert main([str(mini_sweep_file(tmp_path)), "--dir", str(runs), "--out", str(out), "--", *extra]) == 0
    report = json.loads(out.read_text())
    assert report["study_run"] == {"epochs": 15, "close_mosaic": 10}  # the study's runs, not the short ones
    n = cores()
    expected = [(1, n)] + ([(n, 1), (n, 1)] if n > 1 else [])
    assert [(r["jobs"], r["threads"]) for r in report["results"]] == expected
    for result in report["results"]:
        folder = runs / result["variant"].replace(" ", "_").replace(",", "")
        run_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
        assert len(run_dirs) == result["jobs"]
        for run in run_dirs:
            assert f"CPU threads: {result['threads']}" in (run / "console.log").read_text()
            assert len(epoch_times(run / "csv" / "metrics.csv")) == 3
            data = yaml.safe_load((run / "config.yaml").read_text())["data"]
            assert data["close_mosaic"] == 1 and data["cache"]["ram"] == ("no RAM cache" not in result["variant"])
        # validating less often saves the validation time the runs measured
        assert result["val_s"] > 0 and result["runs_per_hour"]["3"] > result["runs_per_hour"]["1"]
