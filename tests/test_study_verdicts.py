"""scripts/report.py on made-up run folders, one misleading case per rule: each verdict must say what the data
show, with the observed direction and the CI. (Each test also fails on the rules these replaced.)"""

import re

import pytest
import yaml
from tests.run_folders import HEAD_CLAIMS, LAYERS, shifted, write_run, write_study, write_study_file

from yololab.study import report, verdicts

NOISE = [0.004, -0.003, 0.001, 0.006, -0.002, 0.0, -0.005, 0.003, 0.002, -0.001]
BASE = {seed: 0.5 + NOISE[seed] for seed in range(10)}


def conclusion(root, tmp_path, *args) -> list[str]:
    """Per claim, what the report's conclusion says after the claim's text."""
    out = tmp_path / "report"
    if "--study" not in args:  # the head-activation study's four claims
        args = (*args, "--study", str(write_study_file(tmp_path / "head_study.yaml")))
    assert report.main([str(root), "--out", str(out), "--no-figures", *args]) == 0
    text = (out / "report.md").read_text().split("## Conclusion")[1]
    return [line.split("** ", 1)[1] for line in text.splitlines() if re.match(r"^\d+\. \*\*", line)]


def seeds(base: dict[int, float], n: int) -> dict[int, float]:
    return {s: v for s, v in base.items() if s < n}


def test_low_power_is_inconclusive_not_a_refutation(tmp_path):
    """The old rule read a wide CI as 'not supported'."""
    relu = seeds(BASE, 6)
    leaky = {s: v + d for (s, v), d in zip(relu.items(), [-0.03, 0.01, -0.02, 0.005, -0.015, 0.002], strict=True)}
    worse = conclusion(write_study(tmp_path / "runs", {"relu": relu, "leaky_relu:0.1": leaky}), tmp_path)[0]
    assert worse.startswith("Inconclusive: leaky_relu:0.1 − relu: -0.80 mAP points [95% CI -2.")
    assert "the CI spans 0, not significant; the CI does not exclude lower by 1.00" in worse
    assert "smallest detectable: " in worse and "smallest detectable: no effect" not in worse


def test_no_shared_seeds_is_inconclusive(tmp_path):
    relu = seeds(BASE, 5)
    leaky = {s + 5: v - 0.02 for s, v in relu.items()}
    found = conclusion(write_study(tmp_path / "runs", {"relu": relu, "leaky_relu_0.1": leaky}), tmp_path)
    assert found[0] == "Inconclusive (no paired seeds): leaky_relu_0.1 − relu: no paired seeds."
    assert found[1].startswith("Inconclusive (no paired seeds)")


def test_opposite_effects_are_mixed_and_named(tmp_path):
    """The old rule called one arm significantly worse and another significantly better 'partly supported'."""
    finals = {"relu": BASE, "leaky_relu_0.01": shifted(BASE, -0.02), "leaky_relu_0.3": shifted(BASE, +0.02)}
    worse = conclusion(write_study(tmp_path / "runs", finals), tmp_path)[0]
    assert worse.startswith("Mixed: as claimed: leaky_relu_0.01 − relu; opposite to the claim: leaky_relu_0.3 − relu.")
    assert "leaky_relu_0.3 − relu: +2.00 mAP points [no CI], Holm p = 0.00391, n = 10: every paired difference is " \
           "+2.00 mAP points: no spread, so the t-test and the t interval do not apply; exact sign-flip p = " \
           "0.00195; significantly higher (opposite to the claim)" in worse


def test_a_depth_localised_signal_loss_is_vanishing(tmp_path):
    """The backward signal 3x smaller at the first hidden layer's output than at the last's; the overall weight-
    gradient magnitude is larger (the old measure: 'not supported (opposite)'). Position 0 (the trunk's map) is
    not part of the ratio: its 10x would be another shape's norm."""
    finals = {"relu": BASE, "leaky_relu_0.1": BASE}
    grads = {"relu": [1.0, 1.0, 1.0], "leaky_relu_0.1": [3.0, 2.0, 1.0]}
    signals = {"relu": [1.0, 1.0, 1.0], "leaky_relu_0.1": [10.0, 1 / 3, 1.0]}
    root = write_study(tmp_path / "runs", finals, grads=grads, signals=signals)
    vanishing = conclusion(root, tmp_path)[1]
    assert vanishing.startswith("Supported: leaky_relu_0.1 − relu: -0.48 log10 signal ratio")
    assert "significantly more vanishing (as claimed)" in vanishing
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| leaky_relu_0.1 | " in text and "| +1.000 | -0.477 | +0.000 |" in text  # the profile, hand computed
    assert "Beside the verdict, not part of it (its own family, leaky_vanishing (beside))" in text


def test_the_weight_gradient_ratio_stays_a_quantity_of_its_own(tmp_path):
    """A 3x smaller weight gradient at the input-side layer, no backward signal logged (runs before it was)."""
    finals = {"relu": BASE, "leaky_relu_0.1": BASE}
    grads = {"relu": [1.0, 1.0, 1.0], "leaky_relu_0.1": [1 / 3, 2.0, 1.0]}
    root = write_study(tmp_path / "runs", finals, grads=grads)
    claims = [{**HEAD_CLAIMS[1], "metric": "weight_gradient_ratio"}]
    study = write_study_file(tmp_path / "weights.yaml", claims=claims)
    (vanishing,) = conclusion(root, tmp_path, "--study", str(study))
    assert vanishing.startswith("Supported: leaky_relu_0.1 − relu: -0.48 log10 gradient ratio")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| leaky_relu_0.1 − relu | log10 overall head gradient magnitude |" in text


def test_equal_slopes_under_two_names_are_one_level(tmp_path):
    """Two arms with α = 0.1 whose configs do not differ are one level of α, no evidence that α matters: the old
    omnibus over the LeakyReLU names said 'supported'. Every seed's change is 0: no spread, no t-test, said
    plainly (the old report read the zero-width interval as 'the data exclude a relevant effect'). Without ReLU
    there is one level only."""
    finals = {"relu": BASE, "leaky_relu:0.1": shifted(BASE, -0.015), "leaky_relu_0.1": shifted(BASE, +0.015)}
    slope = conclusion(write_study(tmp_path / "runs", finals), tmp_path)[2]
    assert slope.startswith("Inconclusive: trend: change from activation.negative_slope = 0 to 0.1: +0.00 mAP "
                            "points [no CI], Holm p = 1, n = 10: every seed's change is +0.00 mAP points: no "
                            "spread, so the t-test and the t interval do not apply; permutation p")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Levels of activation.negative_slope: 0 (relu); 0.1 (leaky_relu:0.1 + leaky_relu_0.1)." in text
    del finals["relu"]
    alone = conclusion(write_study(tmp_path / "no-relu", finals), tmp_path)[2]
    assert alone == ("Not applicable: needs arms with two or more distinct values of activation.negative_slope; "
                     "has: 0.1 (leaky_relu:0.1 + leaky_relu_0.1).")


def test_the_slope_trend_includes_relu_and_pools_equal_slopes(tmp_path):
    finals = {"relu": BASE, "leaky_relu_0.01": shifted(BASE, -0.01), "leaky_relu:0.1": shifted(BASE, -0.02),
              "leaky_relu_0.1": shifted(BASE, -0.02), "leaky_relu_0.3": shifted(BASE, -0.04)}
    slope = conclusion(write_study(tmp_path / "runs", finals), tmp_path)[2]
    assert slope.startswith("Supported: trend: change from activation.negative_slope = 0 to 0.3: -3.")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "0 (relu); 0.01 (leaky_relu_0.01); 0.1 (leaky_relu:0.1 + leaky_relu_0.1); 0.3 (leaky_relu_0.3)" in text


def test_a_consistent_but_not_significant_effect_states_its_direction(tmp_path):
    """2 points on each of 3 seeds, which the sign-flip test cannot make significant: the old label said only
    'n too small'. In the claimed direction (LeakyReLU worse) that is inconclusive; against it (ELU and SELU
    worse, not better) the CI excludes the claimed gain."""
    relu = seeds(BASE, 3)
    finals = {"relu": relu, "leaky_relu_0.1": shifted(relu, -0.02), "elu": shifted(relu, -0.02),
              "selu": shifted(relu, -0.02, {0: 0.001})}
    found = conclusion(write_study(tmp_path / "runs", finals), tmp_path)
    assert found[0] == ("Inconclusive: leaky_relu_0.1 − relu: -2.00 mAP points [no CI], Holm p = 0.25, n = 3: "
                        "every paired difference is -2.00 mAP points: no spread, so the t-test and the t interval "
                        "do not apply; exact sign-flip p = 0.25; lower, not significant; no CI, so nothing is "
                        "excluded; smallest detectable: no effect (n too small).")
    assert found[3].startswith("Inconclusive: elu − relu: -2.00 mAP points [no CI], Holm p = 0.5, n = 3: every "
                               "paired difference is -2.00 mAP points")  # no interval: nothing is excluded
    assert "selu − relu: -1.97 mAP points [95% CI -2.11, -1.82], Holm p = 0.5, n = 3: lower, not significant; " \
           "the CI excludes higher by 1.00 or more" in found[3]


def test_a_relevant_effect_excluded_is_not_supported(tmp_path):
    finals = {"relu": BASE, "elu": shifted(BASE, -0.001, {s: 0.002 * (-1) ** s for s in BASE})}
    better = conclusion(write_study(tmp_path / "runs", finals), tmp_path)[3]
    assert better.startswith("Not supported (the data exclude a relevant effect): elu − relu: -0.10 mAP points")
    assert "the CI excludes higher by 1.00 or more" in better
    claims = [{**c, "margin": 0.0005} for c in HEAD_CLAIMS]
    wider = conclusion(tmp_path / "runs", tmp_path, "--study", str(write_study_file(tmp_path / "s.yaml", claims)))
    assert wider[3].startswith("Inconclusive")


def test_every_claim_table_states_its_multiplicity(tmp_path):
    finals = {"relu": BASE, "leaky_relu_0.01": shifted(BASE, -0.02), "elu": shifted(BASE, 0.01)}
    conclusion(write_study(tmp_path / "runs", finals), tmp_path)
    text = (tmp_path / "report" / "report.md").read_text()
    claims = text.split("### Claim ")[1:]
    assert len(claims) == 4
    for claim, (name, size) in zip(claims, [("leaky_worse", "1 comparison"), ("leaky_vanishing", "1 comparison"),
                                           ("slope_trend", "1 comparison"), ("elu_selu_better", "1 comparison")],
                                    strict=True):
        assert f"Family {name}: {size}, Holm-adjusted together; p from the exact sign-flip permutation test " \
               "unless a row says otherwise. Margin: " in claim
    assert "| comparison | metric | n | mean diff (mAP points) | 95% CI | p | Holm p | smallest detectable | result |" \
        in text
    assert "covers the variation between training seeds, on one fixed validation set" in text


def test_a_new_study_without_relu_is_reported(tmp_path):
    """No ReLU arm and no --baseline: the old report stopped."""
    finals = {"silu": BASE, "gelu": shifted(BASE, 0.01)}
    found = conclusion(write_study(tmp_path / "runs", finals), tmp_path)
    assert [f.split(":")[0] for f in found] == ["Not applicable"] * 4
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Baseline: **gelu** (default without a ReLU arm: the first arm by name)" in text


def test_claims_about_missing_arms_are_not_applicable(tmp_path):
    """A scaffolded study (relu vs silu): the old report said 'inconclusive (arms missing)' four times."""
    found = conclusion(write_study(tmp_path / "runs", {"relu": BASE, "silu": shifted(BASE, 0.01)}), tmp_path)
    assert found == ["Not applicable: the study has no arm matching leaky_relu."] * 2 + [
        "Not applicable: needs arms with two or more distinct values of activation.negative_slope; has: 0 (relu).",
        "Not applicable: the study has no arm matching elu, selu."]


def test_the_study_file_sets_baseline_and_claims(tmp_path):
    root = write_study(tmp_path / "runs", {"relu": BASE, "silu": shifted(BASE, 0.01)})
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"baseline": "silu", "claims": [
        {"name": "silu_better", "text": "SiLU in the head does better than ReLU.", "arms": ["silu"],
         "reference": "relu", "metric": "val/mAP50-95", "direction": "higher", "margin": 0.005}]}))
    found = conclusion(root, tmp_path, "--study", str(study))
    assert len(found) == 1
    assert found[0].startswith("Supported: silu − relu: +1.00 mAP points")
    text = (tmp_path / "report" / "report.md").read_text()
    assert f"Baseline: **silu** (from {study})" in text and "## Differences against silu" in text


def test_arms_are_read_from_the_arm_key_when_the_activation_is_missing(tmp_path):
    finals = {"relu": BASE, "leaky_relu_0.1": shifted(BASE, -0.02)}
    root = write_study(tmp_path / "runs", finals, activations={"relu": None, "leaky_relu_0.1": None})
    assert conclusion(root, tmp_path)[0].startswith("Supported: leaky_relu_0.1 − relu: -2.00 mAP points")


def test_runs_of_another_depth_are_drawn_not_dropped(tmp_path):
    root = tmp_path / "runs"
    deeper = [("head.box.0.0", "relu"), ("head.box.0.1", "relu"), ("head.box.0.2", "relu"), ("head.box.0.3", None)]
    for seed in range(3):
        write_run(root, "relu", seed, BASE[seed], "relu", layers=LAYERS)
        write_run(root, "leaky_relu_0.1", seed, BASE[seed], "leaky_relu:0.1", layers=deeper)
    conclusion(root, tmp_path)
    text = (tmp_path / "report" / "report.md").read_text()
    assert "The runs have 2 head layouts (4 layers: 3 runs; 3 layers: 3 runs): the depth figure has one panel " \
           "per layout." in text or "(3 layers: 3 runs; 4 layers: 3 runs)" in text


def test_a_significant_effect_below_the_margin_says_so(tmp_path):
    """0.3 points lower on every seed is significant, but the claim's margin is 1 point: the verdict says both."""
    finals = {"relu": BASE, "leaky_relu_0.1": shifted(BASE, -0.003, {s: 0.0005 * (-1) ** s for s in BASE})}
    worse = conclusion(write_study(tmp_path / "runs", finals), tmp_path)[0]
    assert worse.startswith("Supported, each significant effect smaller than the margin: leaky_relu_0.1 − relu: "
                            "-0.30 mAP points [95% CI -0.")
    assert "significantly lower (as claimed), but the CI lies within ±1.00: smaller than matters" in worse
    wide = conclusion(tmp_path / "runs", tmp_path, "--study", str(write_study_file(
        tmp_path / "s.yaml", [{**c, "margin": 0.002} for c in HEAD_CLAIMS])))[0]
    assert wide.startswith("Supported: leaky_relu_0.1 − relu: -0.30 mAP points")  # the CI reaches past 0.2


@pytest.mark.parametrize(("value", "factor", "shown"), [
    (-0.003046, 1.0, "-0.0030"),  # a significant log10 ratio of -0.003 no longer reads +0.00
    (0.0049, 1.0, "+0.0049"),
    (0.0123, 1.0, "+0.01"),
    (-0.0059, 100.0, "-0.59"),  # mAP as a fraction, shown in points
    (0.00003, 100.0, "+0.0030"),
    (0.0, 1.0, "+0.00"),
    (-1e-12, 1.0, "-0.0000"),  # four decimals at most: float noise stays short, with its sign
])
def test_a_small_difference_keeps_its_sign_and_two_significant_digits(value, factor, shown):
    assert verdicts.show(value, factor) == shown
