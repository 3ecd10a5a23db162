"""scripts/interaction.py: each arm's effect against relu in two studies and their difference over seeds (paired t,
Holm over the arms), checked against differences, t tests and Holm worked out here from made-up runs."""

import json
import math

import pytest
from scipy import stats
from tests.run_folders import write_run

from yololab.study import interaction

# study -> arm -> seed -> final val/mAP50-95
X = {"relu": {0: 0.300, 1: 0.310, 2: 0.305, 3: 0.299},
     "leaky_relu:0.1": {0: 0.301, 1: 0.312, 2: 0.304, 3: 0.301},
     "leaky_relu:0.3": {0: 0.303, 1: 0.313, 2: 0.309, 3: 0.300}}
Y = {"relu": {0: 0.306, 1: 0.316, 2: 0.314, 3: 0.320},  # seed 3 has no leaky_relu:0.3 here
     "leaky_relu:0.1": {0: 0.305, 1: 0.316, 2: 0.310, 3: 0.317},
     "leaky_relu:0.3": {0: 0.302, 1: 0.312, 2: 0.312}}


def write(root, study):
    for arm, seeds in study.items():
        for seed, final in seeds.items():
            write_run(root, arm, seed, final, arm)
    return str(root)


def test_the_interaction_is_the_paired_difference_of_the_two_effects_with_holm(tmp_path, capsys):
    args = [write(tmp_path / "x", X), write(tmp_path / "y", Y), "--arms", "leaky_relu:0.1", "leaky_relu:0.3"]
    assert interaction.main(args) == 0
    out = capsys.readouterr().out
    expected, ps = {}, {}
    for arm in ("leaky_relu:0.1", "leaky_relu:0.3"):
        seeds = sorted(set(X[arm]) & set(Y[arm]))
        d = [100 * ((X[arm][s] - X["relu"][s]) - (Y[arm][s] - Y["relu"][s])) for s in seeds]
        mean, half = sum(d) / len(d), stats.t.ppf(0.975, len(d) - 1) * stats.tstd(d) / math.sqrt(len(d))
        ps[arm] = stats.ttest_1samp(d, 0).pvalue
        effect_x = sum(100 * (X[arm][s] - X["relu"][s]) for s in seeds) / len(seeds)
        effect_y = sum(100 * (Y[arm][s] - Y["relu"][s]) for s in seeds) / len(seeds)
        expected[arm] = (len(seeds), effect_x, effect_y, mean, mean - half, mean + half)
    low, high = sorted(ps, key=ps.get)  # Holm by hand: the smaller p times 2, the larger times 1, made monotone
    holm = {low: min(1, 2 * ps[low]), high: min(1, max(2 * ps[low], ps[high]))}
    for arm, (n, ex, ey, mean, lo, hi) in expected.items():
        row = next(line for line in out.splitlines() if line.startswith(f"| {arm} |"))
        assert row == (f"| {arm} | {n} | {ex:+.3f} | {ey:+.3f} | {mean:+.3f} | [{lo:+.3f}, {hi:+.3f}] | "
                       f"{ps[arm]:.3g} | {holm[arm]:.3g} |")
    assert expected["leaky_relu:0.3"][0] == 3 and expected["leaky_relu:0.1"][0] == 4
    assert interaction.main([*args, "--json"]) == 0  # the same numbers at full precision
    rows = {r["arm"]: r for r in json.loads(capsys.readouterr().out)["arms"]}
    for arm, (n, ex, ey, mean, lo, hi) in expected.items():
        got = rows[arm]
        assert got["n"] == n
        assert [got[k] for k in ("effect_x", "effect_y", "interaction", "ci_low", "ci_high", "p", "p_holm")] == \
            pytest.approx([ex, ey, mean, lo, hi, ps[arm], holm[arm]], rel=1e-9, abs=1e-12)


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # the same interaction at every seed, by design
def test_the_vanishing_measure_uses_the_backward_signal(tmp_path, capsys):
    layers = [("head.box.0.0", "relu"), ("head.box.0.1", "relu"), ("head.box.0.2", None)]
    signals = {"relu": [9.0, 1.0, 1.0], "leaky_relu:0.1": [9.0, 2.0, 1.0]}  # log10 ratio 0 and log10 2
    for study, extra in (("x", 1.0), ("y", 1.5)):
        for seed in range(3):
            for arm, signal in signals.items():
                scaled = [signal[0], signal[1] * (extra if arm != "relu" else 1) * (1 + 0.1 * seed), 1.0]
                write_run(tmp_path / study, arm, seed, 0.3, arm, layers=layers, signal=scaled)
    args = [str(tmp_path / "x"), str(tmp_path / "y"), "--arms", "leaky_relu:0.1", "--measure", "vanishing"]
    assert interaction.main(args) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| leaky_relu:0.1 |"))
    # relu's ratio log10(1 + 0.1 s) cancels within a study; the arm's effect is log10(2) in x, log10(3) in y
    assert row.split(" | ")[1:5] == ["3", f"{math.log10(2):+.3f}", f"{math.log10(3):+.3f}",
                                     f"{math.log10(2 / 3):+.3f}"]


def test_an_arm_missing_from_a_study_or_too_few_common_seeds_is_an_error(tmp_path, capsys):
    x, y = write(tmp_path / "x", X), write(tmp_path / "y", {"relu": Y["relu"], "leaky_relu:0.1": {0: 0.3}})
    assert interaction.main([x, y, "--arms", "elu"]) == 1
    assert "X: no seed with both elu and relu" in capsys.readouterr().err
    assert interaction.main([x, y, "--arms", "leaky_relu:0.1"]) == 1
    assert "leaky_relu:0.1: fewer than two seeds in both studies ([0, 1, 2, 3] and [0])" in capsys.readouterr().err
