"""The report of made-up run folders, on what the review of docs/neu-det-study found: one number per comparison,
a trend only over arms that differ in its parameter alone, degenerate data said plainly, the study file as the
whole study, and bad input named. Each test fails on the report these replaced."""

import json
import re

import pytest
from tests.run_folders import shifted, write_run, write_study, write_study_file

from yololab.study import report, results

NOISE = [0.004, -0.003, 0.001, 0.006, -0.002, 0.0, -0.005, 0.003, 0.002, -0.001]
BASE = {seed: 0.5 + NOISE[seed] for seed in range(6)}
WOBBLE = {seed: 0.002 * (-1) ** seed * (seed % 3) for seed in range(6)}  # paired differences that vary


def run_report(root, tmp_path, *args, figures: bool = False) -> tuple[str, dict]:
    out = tmp_path / "report"
    assert report.main([str(root), "--out", str(out), *args, *([] if figures else ["--no-figures"])]) == 0
    return (out / "report.md").read_text(), results.read(out / "results.json")


def test_a_trend_over_arms_that_differ_in_more_than_its_parameter_is_refused(tmp_path):
    """Two α = 0.1 arms, one at another learning rate: the old report pooled them and read an α effect."""
    root = tmp_path / "runs"
    for seed, value in BASE.items():
        write_run(root, "relu", seed, value, "relu", config={"model": {"optimizer": {"lr": 0.002}}})
        write_run(root, "leaky_relu:0.1", seed, value - 0.03 + WOBBLE[seed], "leaky_relu:0.1",
                  config={"model": {"optimizer": {"lr": 0.002}}})
        write_run(root, "leaky_lr", seed, value - 0.03 + WOBBLE[seed], "leaky_relu:0.1",
                  config={"model": {"optimizer": {"lr": 0.0005}}})
    text, r = run_report(root, tmp_path, "--study", str(write_study_file(tmp_path / "s.yaml")))
    trend = r["claims"][2]
    assert trend["verdict"] == "not applicable"
    assert "differ in more than activation.negative_slope: in model.optimizer.lr" in trend["reason"]
    assert "**Results depend on the LeakyReLU slope α.** Not applicable: its arms (relu, leaky_lr, leaky_relu:0.1)" \
           in text
    # declared as a trend over the learning rate among the α = 0.1 arms, it is one
    lr_trend = [{"name": "lr", "text": "The learning rate matters.", "kind": "trend", "parameter":
                 "model.optimizer.lr", "arms": ["leaky_relu:0.1", "leaky_lr"], "metric": "val/mAP50-95",
                 "margin": 0.01}]
    _, r = run_report(root, tmp_path, "--study", str(write_study_file(tmp_path / "lr.yaml", lr_trend)))
    assert r["claims"][0]["verdict"] != "not applicable"
    assert r["comparisons"][r["claims"][0]["ids"][0]]["label"] == "trend: change from model.optimizer.lr = 0.0005 " \
                                                                  "to 0.002"


def test_no_spread_in_the_differences_is_said_and_tested_exactly(tmp_path):
    """Every run at mAP 0 (a tiny study): the old report read the zero-width interval as 'the data exclude a
    relevant effect'. An arm whose runs all score the same non-zero value made the figures crash."""
    zero = {seed: 0.0 for seed in range(4)}
    equal = {s: 0.1 for s in range(3)}  # their mean, 0.10000000000000002, lies above the interval [0.1, 0.1]
    root = write_study(tmp_path / "runs", {"relu": zero, "leaky_relu_0.1": zero, "elu": equal})
    text, r = run_report(root, tmp_path, "--study", str(write_study_file(tmp_path / "s.yaml")), figures=True)
    worse = r["claims"][0]
    assert worse["verdict"] == "inconclusive"
    c = r["comparisons"][worse["ids"][0]]
    assert c["degenerate"] == ("every paired difference is +0.00 mAP points: no spread, so the t-test and the t "
                               "interval do not apply; exact sign-flip p = 1")
    assert c["test"] == "sign_flip" and c["p"] == 1.0 and c["ci_low"] != c["ci_low"]  # NaN: no interval
    assert "no CI, so nothing is excluded" in text and "excludes lower by 1.00" not in text
    assert (tmp_path / "report" / "map_per_arm.png").stat().st_size > 0  # elu: three runs at 0.1 drew


def test_without_a_study_file_there_are_no_claims_and_no_leaky_relu_text(tmp_path):
    root = write_study(tmp_path / "runs", {"relu": BASE, "leaky_relu_0.1": shifted(BASE, -0.01, WOBBLE)})
    text, r = run_report(root, tmp_path)
    assert r["claims"] == [] and "No claims: the study file lists none." in text
    assert "LeakyReLU" not in text and "slope α" not in text and "negative_slope" not in text


def test_the_metric_sets_the_units_and_the_trend_column(tmp_path):
    """--metric val/precision@0.25: the old report called it 'mAP points', showed 0/2 epochs to target and no
    power section."""
    metrics = {s: {"val/precision@0.25": 0.6 + NOISE[s], "val/recall@0.25": 0.4} for s in BASE}
    root = tmp_path / "runs"
    for seed, value in BASE.items():
        write_run(root, "relu", seed, value, "relu", metrics=metrics[seed])
        write_run(root, "silu", seed, value, "silu", metrics={**metrics[seed], "val/precision@0.25":
                                                              metrics[seed]["val/precision@0.25"] + WOBBLE[seed]})
    study = write_study_file(tmp_path / "s.yaml", [], metric="val/precision@0.25",
                             metrics=["val/precision@0.25", "val/recall@0.25"])
    text, r = run_report(root, tmp_path, "--study", str(study))
    assert "**precision at confidence 0.25 (val/precision@0.25)** (points)" in text
    assert "**Power** (precision at confidence 0.25 (val/precision@0.25))" in text and "mAP" not in text
    assert r["power"]["quantity"] == "val/precision@0.25" and "slope" not in text
    assert "| arm | runs | seeds | head activation |\n" in text  # no trend declared: no parameter column


def test_one_comparison_has_one_number_everywhere(tmp_path):
    """The old report gave α 0.3 − relu Holm p 0.518 and 0.388 in two sections."""
    finals = {"relu": BASE, "leaky_relu_0.01": shifted(BASE, -0.004, WOBBLE), "leaky_relu_0.3": shifted(BASE, -0.01,
                                                                                                      WOBBLE)}
    text, r = run_report(write_study(tmp_path / "runs", finals), tmp_path, "--study",
                         str(write_study_file(tmp_path / "s.yaml")))
    key = "val/mAP50-95: leaky_relu_0.3 − relu"
    c = r["comparisons"][key]
    assert c["family"] == "leaky_worse" and c["family_size"] == 2
    holm = f"{c['p_holm']:.3g}"
    rows = [line for line in text.splitlines() if line.startswith("| leaky_relu_0.3 ")]
    assert len(rows) >= 3  # per arm, against the baseline, the claim's table, the trend's steps
    assert all(f"| {holm} |" in row for row in rows if "mAP50-95" in row or "leaky_worse" in row)
    assert r["families"]["leaky_worse"]["members"] == ["val/mAP50-95: leaky_relu_0.01 − relu", key]
    trend = r["comparisons"][r["claims"][2]["ids"][0]]
    assert trend["family"] == "slope_trend" and r["claims"][2]["step_ids"][-1] == key


def test_a_nominal_result_against_a_claim_is_shown_beside_it(tmp_path):
    """The README cited ELU's mAP50 gain and left out leaky 0.1's, which runs against 'LeakyReLU is worse'."""
    root = tmp_path / "runs"
    for seed, value in BASE.items():
        write_run(root, "relu", seed, value, "relu")
        write_run(root, "leaky_relu_0.1", seed, value + WOBBLE[seed], "leaky_relu:0.1",
                  metrics={"val/mAP50": 2 * value + 0.015 + WOBBLE[seed]})
    text, r = run_report(root, tmp_path, "--study", str(write_study_file(tmp_path / "s.yaml")))
    nominal = r["claims"][0]["nominal"]
    assert nominal == [{"comparison": "val/mAP50: leaky_relu_0.1 − relu", "relation": "against the claim"}]
    assert "- **against the claim**: val/mAP50, leaky_relu_0.1 − relu: +1.87 mAP points [+1.22, +2.51], unadjusted " \
           "p = 0.0312 (descriptive)" in text
    assert re.search(r"^1\. \*\*.*\(1 nominally significant result against it: see below\)\.$", text, re.M)


def test_an_activation_registered_elsewhere_is_an_arm_the_claims_can_name(tmp_path):
    """A fork's register_activation('scaled_tanh', ...) runs in its training, not in the report's process: the
    old report showed '?' and found no arm for a claim about it."""
    finals = {"relu": BASE, "scaled": shifted(BASE, 0.02, WOBBLE)}
    root = write_study(tmp_path / "runs", finals, activations={"relu": "relu", "scaled": "scaled_tanh:2"})
    claim = [{"name": "st", "text": "Scaled tanh does better.", "arms": ["scaled_tanh"], "reference": "relu",
              "metric": "val/mAP50-95", "direction": "higher", "margin": 0.01}]
    text, r = run_report(root, tmp_path, "--study", str(write_study_file(tmp_path / "s.yaml", claim)))
    assert "| scaled | 6 | 0, 1, 2, 3, 4, 5 | scaled_tanh:2 |" in text
    assert r["claims"][0]["verdict"] == "supported"


@pytest.mark.parametrize(("damage", "message"), [
    (lambda f: (f / "metrics.json").write_text("[1, 2]"), "metrics.json: holds list, not a mapping"),
    (lambda f: (f / "csv" / "metrics.csv").write_bytes(b"\xff\xfe\x00\x81" * 50), "metrics.csv: not a readable CSV"),
    (lambda f: (f / "gradflow_layers.json").write_text('{"depth": 1}'), "gradflow_layers.json: not a list of layers"),
    (lambda f: (f / "gradflow_layers.json").write_text("not json"), "gradflow_layers.json: cannot be parsed"),
])
def test_a_damaged_run_file_is_named(tmp_path, capsys, damage, message):
    root = write_study(tmp_path / "runs", {"relu": BASE, "silu": BASE})
    damage(root / "relu-seed0")
    assert report.main([str(root), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert message in err and "relu-seed0" in err and "Traceback" not in err


def test_out_pointing_at_a_file_is_refused_and_the_file_kept(tmp_path, capsys):
    root = write_study(tmp_path / "runs", {"relu": BASE, "silu": BASE})
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert report.main([str(root), "--out", str(target)]) == 1
    assert f"--out {target}: is a file, not a folder" in capsys.readouterr().err and target.read_text() == "mine"


def test_a_metric_that_is_nan_text_or_missing_names_the_run_and_the_key(tmp_path):
    """The old report showed '– ± –, n=1' and named no run."""
    root = write_study(tmp_path / "runs", {"relu": BASE, "silu": shifted(BASE, 0.01, WOBBLE)})
    for seed, value in ((0, "NaN"), (1, '"high"'), (2, None)):
        path = root / f"silu-seed{seed}" / "metrics.json"
        final = json.loads(path.read_text())
        if value is None:
            del final["val/mAP50-95"]
            path.write_text(json.dumps(final))
        else:
            path.write_text(json.dumps(final).replace(str(final["val/mAP50-95"]), value))
    text, r = run_report(root, tmp_path)
    assert "- val/mAP50-95 is nan (not finite) in metrics.json: `silu-seed0`" in text
    assert "- val/mAP50-95 is not a number ('high') in metrics.json: `silu-seed1`" in text
    assert "- val/mAP50-95 is missing from metrics.json: `silu-seed2`" in text
    assert r["summaries"]["val/mAP50-95"]["silu"]["n"] == 3


def test_a_seed_whose_arms_ran_on_two_machines_is_named_with_its_arms(tmp_path):
    """Runs on different CPUs drift in their last bits; the report lists the machines and every seed whose pairs
    mix them, arms by machine (environment.json as training writes it, one entry per start)."""
    root = tmp_path / "runs"
    avx2 = {"cpu_model": "AMD EPYC", "cpu_capability": "AVX2", "threads": 1}
    avx512 = {**avx2, "cpu_capability": "AVX512"}
    portable = {**avx2, "mkldnn_enabled": False}  # numerics=portable on either machine
    where = {("relu", 0): [avx2], ("leaky_relu:0.1", 0): [avx2], ("relu", 1): [avx2],
             ("leaky_relu:0.1", 1): [avx2, avx512], ("relu", 2): [portable], ("leaky_relu:0.1", 2): [avx2]}
    for (arm, seed), entries in where.items():
        folder = write_run(root, arm, seed, BASE[seed] - (0.01 if arm != "relu" else 0), arm)
        (folder / "environment.json").write_text(json.dumps(entries))
    text, r = run_report(root, tmp_path)
    assert r["machines"]["all"] == ["AMD EPYC (AVX2)", "AMD EPYC (AVX2) + AMD EPYC (AVX512)",
                                    "AMD EPYC (AVX2, oneDNN off)"]
    assert r["machines"]["mixed_seeds"] == {"1": {"AMD EPYC (AVX2) + AMD EPYC (AVX512)": ["leaky_relu:0.1"],
                                                  "AMD EPYC (AVX2)": ["relu"]},
                                            "2": {"AMD EPYC (AVX2)": ["leaky_relu:0.1"],
                                                  "AMD EPYC (AVX2, oneDNN off)": ["relu"]}}
    assert "- seed 1: AMD EPYC (AVX2) + AMD EPYC (AVX512): leaky_relu:0.1; AMD EPYC (AVX2): relu\n" in text
    assert "seed 0:" not in text
