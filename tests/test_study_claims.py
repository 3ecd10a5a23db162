"""The conclusion's verdicts on fixed numbers: supported, contradicted, inconclusive for too few seeds."""

import numpy as np
import pytest

from yololab.study import claims, measures
from yololab.study.runs import by_arm, make_run

NOISE = np.array([0.004, -0.003, 0.001, 0.006, -0.002, 0.0, -0.005, 0.003, 0.002, -0.001])
ARMS = {  # arm: (activation, mAP offset from relu, gradient-norm factor)
    "relu": ("relu", 0.0, 1.0),
    "leaky_relu_0.01": ("leaky_relu:0.01", -0.020, 1.3),
    "leaky_relu_0.1": ("leaky_relu:0.1", -0.012, 1.2),
    "elu": ("elu", +0.015, 1.0),
    "selu": ("selu", 0.0, 1.0),
}


def study(seeds: int, arms=ARMS) -> dict:
    runs = []
    for arm, (activation, offset, factor) in arms.items():
        for seed in range(seeds):
            value = 0.5 + NOISE[seed] + offset + (0.0005 * (-1) ** seed if arm == "selu" else 0.0)
            rows = [{"epoch": 0, "val/mAP50-95": value / 2}, {"epoch": 1, "val/mAP50-95": value},
                    {"gradflow/grad_norm/head.0": factor * (1 + NOISE[seed]), "gradflow/grad_norm/head.1": 2.0,
                     "gradflow/dead_fraction/head.0": 0.1}]
            config = {"arm": arm, "seed": seed, "model": {"head": {"activation": activation}}}
            runs.append(make_run(f"{arm}/{seed}", config, {"val/mAP50-95": value}, rows,
                                 layers=[("head.0", activation), ("head.1", None)]))
    return by_arm(runs, first="relu")


def verdicts(groups) -> list[str]:
    return [c.verdict for c in claims.evaluate_claims(groups, "val/mAP50-95")]


def test_ten_seeds_decide_every_claim():
    found = claims.evaluate_claims(study(10), "val/mAP50-95")
    assert [c.verdict for c in found] == [
        "supported",  # both slopes below relu on every seed
        "not supported (significant in the opposite direction)",  # their gradients are larger
        "supported",  # the two slopes differ on every seed
        "supported",  # elu above relu on every seed (selu: no difference)
    ]
    first = found[0].evidence[0]
    assert first.startswith("leaky_relu_0.01 − relu: -2.00 mAP points") and "10 seeds: supports" in first
    assert "Holm p = 0.0078" in first  # 2/1024 times the 4 arms compared with relu
    assert any(line.startswith("selu − relu") and "no significant difference" in line for line in found[3].evidence)


def test_three_seeds_are_too_few_for_any_claim():
    assert verdicts(study(3)) == ["inconclusive (n too small)"] * 4


def test_missing_arms_are_named():
    groups = study(10, {k: v for k, v in ARMS.items() if k in ("relu", "elu", "leaky_relu_0.1")})
    assert verdicts(groups) == ["supported", "not supported (significant in the opposite direction)",
                                "inconclusive (arms missing: needs two or more LeakyReLU slopes)", "supported"]
    no_relu = study(10, {k: v for k, v in ARMS.items() if k != "relu"})
    assert verdicts(no_relu)[0] == "inconclusive (arms missing: relu)"


def test_measures_of_a_run():
    run = study(1)["leaky_relu_0.01"][0]
    assert measures.head_grad_norm(run) == pytest.approx(1.3 * 1.004)  # the hidden layer only
    assert measures.dead_fraction(run) == pytest.approx(0.1)
    assert measures.epochs_to(run, "val/mAP50-95", 0.3) == 2
    assert measures.epochs_to(run, "val/mAP50-95", 0.9) is None
