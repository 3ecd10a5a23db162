"""The claims on fixed numbers: the verdict rules, the arms read from configs, the measures, the study file."""

import math
import re
from pathlib import Path

import numpy as np
import pytest
from tests.run_folders import write_study_file

from yololab.study import arms, claims, measures, verdicts
from yololab.study.design import Design, load_design
from yololab.study.families import Comparisons
from yololab.study.quantities import quantity
from yololab.study.runs import StudyDataError, by_arm, make_run

NOISE = np.array([0.004, -0.003, 0.001, 0.006, -0.002, 0.0, -0.005, 0.003, 0.002, -0.001])
ARMS = {  # arm: (activation, mAP offset from relu, input-side gradient factor)
    "relu": ("relu", 0.0, 1.0),
    "leaky_relu_0.01": ("leaky_relu:0.01", -0.020, 1.3),
    "leaky_relu_0.1": ("leaky_relu:0.1", -0.012, 1.2),
    "elu": ("elu", +0.015, 1.0),
    "selu": ("selu", 0.0, 1.0),
}


def study(seeds: int, arm_table=ARMS) -> dict:
    runs = []
    for arm, (activation, offset, factor) in arm_table.items():
        for seed in range(seeds):
            value = 0.5 + NOISE[seed] + offset + (0.0005 * (-1) ** seed if arm == "selu" else 0.0)
            input_side = factor * (1 + NOISE[seed])  # the backward signal at head.1's input (and head.0's grad)
            rows = [{"epoch": 0, "val/mAP50-95": value / 2}, {"epoch": 1, "val/mAP50-95": value},
                    *({"gradflow/grad_norm/head.0": input_side * step, "gradflow/grad_norm/head.1": 2.0 * step,
                       "gradflow/grad_norm/head.2": 2.0 * step, "gradflow/input_grad_norm/head.0": 5.0 * step,
                       "gradflow/input_grad_norm/head.1": input_side * step,
                       "gradflow/input_grad_norm/head.2": 2.0 * step, "gradflow/dead_fraction/head.0": 0.1}
                      for step in (1, 2))]
            config = {"arm": arm, "seed": seed, "model": {"head": {"activation": activation}}}
            runs.append(make_run(f"{arm}/{seed}", config, {"val/mAP50-95": value}, rows,
                                 layers=[("head.0", activation), ("head.1", activation), ("head.2", None)]))
    return by_arm(runs, first="relu")


def effect(estimate=-0.02, low=-0.03, high=-0.01, p_holm=0.01, n=10, detectable=0.01) -> dict:
    return {"label": "a − b", "n": n, "estimate": estimate, "ci_low": low, "ci_high": high, "p": p_holm,
            "p_holm": p_holm, "detectable": detectable, "degenerate": None}


MAP = quantity("val/mAP50-95").describe()


def head_design(tmp_path, **keys) -> Design:
    return load_design(write_study_file(tmp_path / "study.yaml", **keys))


def evaluate(groups, design: Design) -> list[dict]:
    described = arms.describe(groups)
    comps = Comparisons(groups, design.test, design.alpha)
    found = claims.evaluate(design, groups, described, comps, lambda n: quantity(n, design.confidence), "relu")
    for claim in found:
        claim["comparisons"] = [comps.items[f["comparison"]] for f in claim["findings"]]
    return found


@pytest.mark.parametrize(("e", "direction", "expected"), [
    (effect(), -1, verdicts.SIGNIFICANT),
    (effect(), +1, verdicts.OPPOSITE),
    (effect(-0.002, -0.008, 0.004, 0.5), -1, verdicts.EXCLUDED),  # the CI rules out a decrease of 0.01
    (effect(-0.008, -0.025, 0.008, 0.5), -1, verdicts.OPEN),  # low power: a decrease of 0.01 stays possible
    (effect(-0.008, -0.025, 0.008, 0.5), +1, verdicts.EXCLUDED),  # but an increase of 0.01 is ruled out
    (effect(-0.002, -0.008, 0.004, 0.5), 0, verdicts.EXCLUDED),
    (effect(-0.002, -0.012, 0.004, 0.5), 0, verdicts.OPEN),
    (effect(math.nan, math.nan, math.nan, math.nan, n=0), -1, verdicts.UNPAIRED),
    (effect(-0.02, math.nan, math.nan, 1.0, n=1), -1, verdicts.OPEN),
])
def test_outcome_of_one_comparison(e, direction, expected):
    assert verdicts.outcome(e, direction, margin=0.01, alpha=0.05) == expected


@pytest.mark.parametrize(("outcomes", "need", "expected"), [
    (["significant", "significant"], "all", "supported"),
    (["significant", "open"], "all", "partly supported"),
    (["significant", "open"], "any", "supported"),
    (["significant", "opposite"], "any", "mixed"),
    (["opposite", "open"], "all", "not supported (significant in the opposite direction)"),
    (["opposite", "open"], "any", "inconclusive"),
    (["excluded", "opposite"], "any", "not supported (significant in the opposite direction)"),
    (["excluded", "excluded"], "all", "not supported (the data exclude a relevant effect)"),
    (["excluded", "open"], "all", "inconclusive"),
    (["excluded", "unpaired"], "all", "inconclusive"),
    (["unpaired", "unpaired"], "all", "inconclusive (no paired seeds)"),
])
def test_claim_verdict_from_its_comparisons(outcomes, need, expected):
    assert verdicts.verdict(outcomes, need) == expected


def test_every_reason_states_direction_ci_and_what_could_be_detected():
    wide = effect(-0.008, -0.025, 0.008, 0.5, detectable=0.021)
    result = verdicts.outcome(wide, -1, 0.01, 0.05)
    finding = {"outcome": result, "note": verdicts.note(wide, result, -1, 0.01, MAP)}
    assert verdicts.evidence(wide, finding, MAP) == (
        "a − b: -0.80 mAP points [95% CI -2.50, +0.80], Holm p = 0.5, n = 10: the CI spans 0, not significant; "
        "the CI does not exclude lower by 1.00; smallest detectable: 2.10")
    tiny = effect(-0.002, -0.003, -0.001, 0.01)
    assert verdicts.note(tiny, verdicts.SIGNIFICANT, -1, 0.01, MAP) == (
        "significantly lower (as claimed), but the CI lies within ±1.00: smaller than matters")
    leaning = effect(-0.008, -0.015, -0.001, 0.2)  # the CI excludes 0 but Holm's p does not pass: a direction
    assert verdicts.note(leaning, verdicts.OPEN, -1, 0.01, MAP).startswith("lower, not significant")


def test_ten_seeds_decide_every_claim(tmp_path):
    found = evaluate(study(10), head_design(tmp_path))
    assert [c["verdict"] for c in found] == [
        "supported",  # both slopes below relu on every seed
        "not supported (significant in the opposite direction)",  # input-side gradients relatively larger
        "inconclusive",  # a dip at α = 0.01, not a trend: each level against α = 0 is claim 1's comparison
        "supported",  # elu above relu on every seed (selu: no difference)
    ]
    first = found[0]["comparisons"][0]
    assert first["label"] == "leaky_relu_0.01 − relu" and first["estimate"] == pytest.approx(-0.02)
    assert first["p_holm"] == pytest.approx(2 * 2 / 1024)  # two LeakyReLU arms: their own family
    assert [f["note"] for f in found[3]["findings"]] == [
        "every paired difference is +1.50 mAP points: no spread, so the t-test and the t interval do not apply; "
        "exact sign-flip p = 0.00195; significantly higher (as claimed)",
        "the CI spans 0, not significant; the CI excludes higher by 1.00 or more"]


def test_under_the_t_test_five_seeds_can_decide_what_the_sign_flip_test_cannot(tmp_path):
    """Five seeds: the sign-flip test's smallest p, 2/2^5 = 0.0625, never passes α = 0.05; the t-test's can."""
    groups = study(5)
    for run in groups["leaky_relu_0.01"] + groups["leaky_relu_0.1"]:  # differences that vary from seed to seed
        run.final["val/mAP50-95"] += 0.001 * (-1) ** run.seed
    assert evaluate(groups, head_design(tmp_path))[0]["verdict"] == "inconclusive"
    found = evaluate(groups, head_design(tmp_path, test="paired_t"))
    first = found[0]["comparisons"][0]
    assert found[0]["verdict"] == "supported" and first["p"] < 0.05 / 2 and first["test"] == "paired_t"


def test_three_seeds_are_inconclusive_and_say_which_way(tmp_path):
    found = evaluate(study(3), head_design(tmp_path))
    assert found[0]["verdict"] == "inconclusive"
    assert found[0]["reason"].startswith("leaky_relu_0.01 − relu: -2.00 mAP points [no CI], Holm p = 0.5, n = 3: "
                                         "every paired difference is -2.00 mAP points: no spread")
    assert "lower, not significant" in found[0]["reason"] and "smallest detectable: no effect (n too small)" in \
        found[0]["reason"]


def test_claims_without_their_arms_are_not_applicable(tmp_path):
    design = head_design(tmp_path)
    groups = study(10, {k: v for k, v in ARMS.items() if k in ("relu", "elu", "leaky_relu_0.1")})
    assert [c["verdict"] for c in evaluate(groups, design)] == [
        "supported", "not supported (significant in the opposite direction), each significant effect smaller than "
        "the margin", "supported", "supported"]  # +0.08 log10 against a margin of 0.1
    no_relu = evaluate(study(10, {k: v for k, v in ARMS.items() if k != "relu"}), design)
    assert no_relu[0]["verdict"] == "not applicable" and no_relu[0]["reason"] == "the study has no relu arm"
    assert no_relu[2]["verdict"] != "not applicable"  # two LeakyReLU slopes remain


def test_arms_come_from_the_config_or_the_name():
    assert arms.parse_spec("leaky_relu_0.1") == arms.parse_spec("leaky_relu:0.1")
    assert arms.parse_spec("leaky_relu:0.1").negative_slope == 0.1
    assert arms.parse_spec("leaky_relu").negative_slope == 0.01  # the registry's default
    assert arms.parse_spec("my_arm") is None and arms.parse_spec(None) is None
    groups = study(1)
    described = arms.describe(groups)
    assert {n: a.slope for n, a in described.items()} == {"relu": 0.0, "elu": None, "leaky_relu_0.01": 0.01,
                                                          "leaky_relu_0.1": 0.1, "selu": None}
    assert arms.select(described, ("leaky_relu",)) == ["leaky_relu_0.01", "leaky_relu_0.1"]
    assert arms.default_baseline(described) == ("relu", "default: the ReLU arm")
    renamed = {"control": arms.Arm("control", arms.parse_spec("relu")), "b": arms.Arm("b", None)}
    assert arms.pick(renamed, "relu") == "control"


def test_measures_of_a_run():
    run = study(1)["leaky_relu_0.01"][0]
    # the hidden layers, each the mean of 2 steps
    assert measures.head_grad_norm(run) == pytest.approx(math.hypot(1.3 * 1.004 * 1.5, 2.0 * 1.5))
    assert measures.log_gradient_ratio(run) == pytest.approx(math.log10(1.3 * 1.004 / 2.0))  # per step, then mean
    # the backward signal at the first hidden layer's output over the last's (the trunk's map, 5.0, left out)
    assert measures.log_backward_ratio(run) == pytest.approx(math.log10(1.3 * 1.004 / 2.0))
    assert measures.backward_profile(run) == pytest.approx([math.log10(5.0 / 2.0), math.log10(1.3 * 1.004 / 2), 0])
    assert measures.dead_fraction(run) == pytest.approx(0.1)
    assert measures.epochs_to(run, "val/mAP50-95", 0.3) == 2
    assert measures.epochs_to(run, "val/mAP50-95", 0.9) is None


def test_the_gradient_ratio_takes_each_path_from_input_to_output():
    layers = [("head.box.0.0", "relu"), ("head.box.0.1", None), ("head.cls.0.0", "relu"), ("head.cls.0.1", None)]
    assert measures.chains(layers) == [[0, 1], [2, 3]]
    assert measures.chains([("a", "relu"), ("b", "relu"), ("c", None)]) == [[0, 1, 2]]  # one module per layer
    norms = {"head.box.0.0": 1.0, "head.box.0.1": 10.0, "head.cls.0.0": 0.0, "head.cls.0.1": 0.0}
    paths = [["head.box.0.0", "head.box.0.1"], ["head.cls.0.0", "head.cls.0.1"]]
    assert measures.step_log_ratio(norms, paths) == pytest.approx(-1.0)  # the path without gradient is skipped


def test_the_study_file(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("study:\n  baseline: silu\n  confidence: 0.3\n  claims:\n"
                    "    - {name: s, text: SiLU is better., arms: [silu], reference: relu, metric: precision,\n"
                    "       direction: higher, margin: 0.02, need: any, family: f}\n")
    design = load_design(path)
    assert design.baseline == "silu" and design.confidence == 0.3 and design.source == str(path)
    claim = design.claims[0]
    assert (claim.arms, claim.direction, claim.need, claim.margin, claim.family, claim.metrics) == (
        ("silu",), +1, "any", 0.02, "f", ("precision",))
    assert Design().claims == ()  # the code holds no claims
    assert quantity("precision", 0.3).name == "val/precision@0.3"


@pytest.mark.parametrize(("text", "message"), [
    ("claims: [leaky_worse]\n", "claims[0]: a claim is a mapping with the keys name, text, kind, arms"),
    ("test: wilcoxon\n", "test: 'wilcoxon' is not one of sign_flip, paired_t"),
    ("baseline: relu\nmargn: 0.1\n", "unknown key margn; valid keys: baseline, metric, metrics, confidence"),
    ("claims:\n  - {name: a, text: t, arms: [x], metric: m, directon: lower, margin: 0.01}\n",
     "claims[0]: unknown key directon; valid keys: name, text, kind, arms, reference, metric, direction, margin, "
     "family, need, beside, parameter, ignore_keys"),
    ("claims:\n  - {name: a, text: t, arms: [x], metric: m, margin: 0.01}\n",
     "claims[0]: a compare claim needs direction"),
    ("claims:\n  - {name: a, text: t, arms: [x], metric: m, direction: up, margin: 0.01}\n",
     "direction: 'up' is not one of higher, lower"),
    ("claims:\n  - {name: a, kind: trend, text: t, arms: [x], metric: m, margin: 0.01}\n",
     "a trend claim needs parameter"),
])
def test_every_key_of_the_study_file_is_checked(tmp_path, text, message):
    """A misspelt key named, never read as a default (the old code took ``directon: lower`` as higher)."""
    path = tmp_path / "study.yaml"
    path.write_text(text)
    with pytest.raises(StudyDataError, match=re.escape(message)):
        load_design(path)


def test_a_measure_nobody_logged_is_no_data_not_unpaired(tmp_path):
    groups = study(10)
    for runs in groups.values():
        for run in runs:
            run.signal_steps = []
    vanishing = evaluate(groups, head_design(tmp_path))[1]
    assert vanishing["verdict"] == "inconclusive (no data)"
    assert vanishing["reason"] == ("no run of relu, leaky_relu_0.01, leaky_relu_0.1 has log10 backward-signal "
                                   "ratio (first / last hidden layer's output)")


def test_rows_of_one_step_are_one_step():
    run = make_run("r", {"seed": 0, "arm": "relu"}, {}, [
        {"step": 0, "gradflow/grad_norm/head.0": 1.0}, {"step": 0, "gradflow/grad_norm/head.1": 10.0},
        {"step": 1, "gradflow/grad_norm/head.0": 1.0, "gradflow/grad_norm/head.1": 100.0}])
    assert run.grad_steps == [{"head.0": 1.0, "head.1": 10.0}, {"head.0": 1.0, "head.1": 100.0}]
    assert measures.log_gradient_ratio(run) == pytest.approx(-1.5)


def test_every_claims_file_in_the_repository_loads_and_names_known_quantities():
    """A study's claims file (no ``program``, unlike a sweep file) is read only when its report is written,
    perhaps sessions after its runs: a misspelt key or quantity is caught here instead."""
    import yaml

    repo = Path(__file__).resolve().parents[1]
    files = [p for p in sorted((repo / "studies").rglob("*.yaml")) if "program" not in yaml.safe_load(p.read_text())]
    assert "studies/head-probe/study_deep.yaml" in [str(p.relative_to(repo)) for p in files]
    for path in files:
        design = load_design(path)
        for claim in design.claims:
            for name in (*claim.metrics, *claim.beside):
                quantity(name, design.confidence, where=str(path))
