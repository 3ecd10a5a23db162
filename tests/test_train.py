"""End to end: training overfits a handful of real image files; eval.py reproduces the metrics."""

import csv

import pytest
from tests.conftest import compose_config

from yololab import evaluate


def test_overfit_drives_loss_down_and_map_up(overfit_run):
    _, metrics, out = overfit_run
    with open(out / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    losses = [float(r["train/loss_step"]) for r in rows if r.get("train/loss_step")]
    assert losses[-1] < 0.25 * losses[0]
    assert metrics["val/mAP50"] > 0.9
    assert metrics["val/mAP50-95"] > 0.6
    per_class = {k for k in metrics if k.startswith("val/AP50/")}
    assert per_class and per_class <= {f"val/AP50/{n}" for n in
                                       ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale",
                                        "scratches")}


def test_eval_reproduces_validation_metrics(overfit_run, tmp_path):
    _, metrics, out = overfit_run
    ckpt = out / "checkpoints" / "last.ckpt"
    eval_cfg = compose_config(tmp_path, [f"ckpt_path={ckpt}", "trainer=cpu", "data.num_workers=0"], config_name="eval")
    result = evaluate.run(eval_cfg)
    for key in ("val/mAP50", "val/mAP50-95"):
        assert result[key] == pytest.approx(metrics[key], abs=1e-6)


def test_eval_needs_a_real_checkpoint(tmp_path):
    cfg = compose_config(tmp_path, [f"ckpt_path={tmp_path / 'missing.ckpt'}"], config_name="eval")
    with pytest.raises(FileNotFoundError, match=r"missing\.ckpt"):
        evaluate.run(cfg)
