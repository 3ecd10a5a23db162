"""scripts/entry_bar.py: each candidate's final metric against a fraction of the reference arm's mean, with the
bar worked out here by hand."""

from tests.run_folders import write_run

from yololab.study import entry_bar


def test_each_candidate_is_judged_against_80_percent_of_the_reference_mean(tmp_path, capsys):
    for seed, value in enumerate([0.60, 0.62, 0.64]):  # mean 0.62, bar 0.496
        write_run(tmp_path / "mlp", "relu", seed, 0.3, "relu", metrics={"val/mAP50": value})
    write_run(tmp_path / "mlp", "elu", 0, 0.3, "elu", metrics={"val/mAP50": 0.1})  # another arm: not the reference
    for arm, value in {"fc_base": 0.077, "fc_lr_low": 0.50, "fc_norm_batch": 0.4959}.items():
        write_run(tmp_path / "fc", arm, 0, 0.3, "relu", metrics={"val/mAP50": value})
    write_run(tmp_path / "fc", "fc_no_ema", 0, 0.3, "relu", metrics={"val/mAP50": float("nan")})
    assert entry_bar.main([str(tmp_path / "fc"), "--reference", str(tmp_path / "mlp")]) == 0
    out = capsys.readouterr().out
    assert "The bar: 80% of relu's mean val/mAP50 over its 3 seed(s), 0.6200: **0.4960**." in out
    assert "| fc_base | 0 | 0.0770 | 12% | no |" in out
    assert "| fc_lr_low | 0 | 0.5000 | 81% | yes |" in out
    assert "| fc_norm_batch | 0 | 0.4959 | 80% | no |" in out  # 79.98%: below the bar, though it rounds to 80%
    assert "| fc_no_ema | 0 | not logged | – | no |" in out
    assert "Cleared: fc_lr_low." in out


def test_a_reference_arm_without_runs_is_an_error(tmp_path, capsys):
    write_run(tmp_path / "fc", "fc_base", 0, 0.3, "relu", metrics={"val/mAP50": 0.1})
    assert entry_bar.main([str(tmp_path / "fc"), "--reference", str(tmp_path / "fc"), "--arm", "relu"]) == 1
    assert "no run of the reference arm relu with val/mAP50" in capsys.readouterr().err


def test_also_shows_the_losses_beside_the_verdict_with_the_reference_mean_first(tmp_path, capsys):
    for seed, (value, train, val) in enumerate([(0.60, 4.0, 4.8), (0.64, 4.2, 5.0)]):  # means 0.62, 4.1, 4.9
        write_run(tmp_path / "mlp", "relu", seed, 0.3, "relu",
                  metrics={"val/mAP50": value, "train/loss_epoch": train, "val/loss": val})
    write_run(tmp_path / "fc", "fc_base", 0, 0.3, "relu",
              metrics={"val/mAP50": 0.3313, "train/loss_epoch": 3.23, "val/loss": 5.61})
    write_run(tmp_path / "fc", "fc_grid_14", 0, 0.3, "relu", metrics={"val/mAP50": 0.52})  # no losses logged
    argv = [str(tmp_path / "fc"), "--reference", str(tmp_path / "mlp"), "--also", "train/loss_epoch",
            "--also", "val/loss"]
    assert entry_bar.main(argv) == 0
    out = capsys.readouterr().out
    assert "| arm | seed | val/mAP50 | of relu's mean | clears the bar | train/loss_epoch | val/loss |" in out
    assert "| relu (reference, mean) | 2 seed(s) | 0.6200 | 100% | – | 4.1000 | 4.9000 |" in out
    assert "| fc_base | 0 | 0.3313 | 53% | no | 3.2300 | 5.6100 |" in out
    assert "| fc_grid_14 | 0 | 0.5200 | 84% | yes | not logged | not logged |" in out
