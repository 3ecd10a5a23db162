"""scripts/depth_search.py: per head depth, relu's log10 backward-signal ratio over seeds with its 95% t
interval, and the smallest depth whose interval lies below 0; checked against ratios and intervals worked out
here from the made-up signal norms."""

import math

import pytest
from scipy import stats
from tests.run_folders import write_run

from yololab.study import depth

SIGNALS = {  # depth -> seed -> the backward signal at each layer's input (first hidden ... output layer)
    2: {0: [9.0, 1.0, 1.0], 1: [9.0, 1.1, 1.0], 2: [9.0, 0.9, 1.0]},  # ratio ~ 1: log10 around 0
    4: {0: [9.0, 0.50, 1, 1, 1.0], 1: [9.0, 0.40, 1, 1, 1.0], 2: [9.0, 0.45, 1, 1, 1.0]},  # shrinks: below 0
    8: {0: [9.0, 0.01, *[1] * 6, 1.0], 1: [9.0, 0.02, *[1] * 6, 1.0]},
}


def layers(d: int) -> list[tuple[str, str | None]]:
    return [(f"head.box.0.{i}", "relu") for i in range(d)] + [(f"head.box.0.{d}", None)]


def write(tmp_path, signals=SIGNALS):
    for d, seeds in signals.items():
        for seed, signal in seeds.items():
            write_run(tmp_path / f"depth{d}", "relu", seed, 0.3, "relu", layers=layers(d), signal=signal,
                      config={"model": {"head": {"depth": d}}})
    return [str(tmp_path / f"depth{d}") for d in signals]


def test_each_depth_gets_its_seeds_ratio_and_t_interval_and_the_smallest_vanishing_depth_is_chosen(tmp_path, capsys):
    assert depth.main(write(tmp_path)) == 0
    out = capsys.readouterr().out
    for d, seeds in SIGNALS.items():
        ratios = [math.log10(s[1] / s[-1]) for s in seeds.values()]  # first hidden layer's output / last's
        n, mean, sd = len(ratios), sum(ratios) / len(ratios), stats.tstd(ratios)
        half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
        row = next(line for line in out.splitlines() if line.startswith(f"| {d} |"))
        per_seed = ", ".join(f"{r:+.3f}" for r in ratios)
        assert row == (f"| {d} | {n} | {per_seed} | {mean:+.3f} | [{mean - half:+.3f}, {mean + half:+.3f}] | "
                       f"{'yes' if mean + half < 0 else 'no'} | {mean:+.3f} |")  # the same signal at every step
    assert "The deep variant's depth: **4**" in out


def test_no_depth_vanishing_is_said_and_a_duplicate_seed_is_an_error(tmp_path, capsys):
    assert depth.main(write(tmp_path, {2: SIGNALS[2]})) == 0
    assert "No depth's interval lies below 0" in capsys.readouterr().out
    write_run(tmp_path / "again", "relu", 1, 0.3, "relu", layers=layers(2), config={"model": {"head": {"depth": 2}}})
    assert depth.main([str(tmp_path / "depth2"), str(tmp_path / "again")]) == 1
    assert "a second run of relu, seed 1, depth 2" in capsys.readouterr().err


def test_one_sweep_folder_may_hold_several_depths_with_the_same_seeds(tmp_path, capsys):
    """The depth search's own sweep writes depths 4 and 8 of seeds 0-2 into one folder."""
    for d in (4, 8):
        for seed, signal in SIGNALS[d].items():
            write_run(tmp_path / "sweep" / f"depth={d}", "relu", seed, 0.3, "relu", layers=layers(d), signal=signal,
                      config={"model": {"head": {"depth": d}}})
    assert depth.main([str(tmp_path / "sweep")]) == 0
    out = capsys.readouterr().out
    assert [line.split(" | ")[1] for line in out.splitlines() if line.startswith(("| 4 |", "| 8 |"))] == ["3", "2"]
    assert "The deep variant's depth: **4**" in out


def test_runs_under_different_inits_are_an_error(tmp_path, capsys):
    """PyTorch's default init shrinks the signal where the activation-aware one keeps it: not one search."""
    for d, init in ((2, "auto"), (4, "torch_default")):
        for seed, signal in SIGNALS[d].items():
            write_run(tmp_path / "mixed" / f"depth={d}", "relu", seed, 0.3, "relu", layers=layers(d), signal=signal,
                      config={"model": {"head": {"depth": d}, "init": init}})
    assert depth.main([str(tmp_path / "mixed")]) == 1
    err = capsys.readouterr().err
    assert "runs of relu under different inits: auto (" in err and "torch_default (" in err


def test_the_ratio_at_the_first_logged_step_is_shown_beside_the_runs_mean(tmp_path, capsys):
    """PyTorch's default init shrinks a relu layer's signal about sqrt(6)-fold at the start; training then grows it:
    the first step's ratio is its own column, and the rule still reads the mean over the steps."""
    starts = {0: [9.0, 0.10, 1, 1, 1.0], 1: [9.0, 0.05, 1, 1, 1.0]}
    for seed, start in starts.items():
        write_run(tmp_path / "td", "relu", seed, 0.3, "relu", layers=layers(4), signal=[9.0, 2.0, 1, 1, 1.0],
                  signal_at_start=start, config={"model": {"head": {"depth": 4}}})
    assert depth.main([str(tmp_path / "td")]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| 4 |"))
    per_seed = [(math.log10(s[1]) + 2 * math.log10(2.0)) / 3 for s in starts.values()]  # 3 steps, the first the init's
    at_start = (math.log10(0.10) + math.log10(0.05)) / 2  # -1.151
    assert row.split(" | ")[2:4] == [", ".join(f"{v:+.3f}" for v in per_seed), f"{sum(per_seed) / 2:+.3f}"]
    assert row.endswith(f"| no | {at_start:+.3f} |")


def test_an_arm_with_no_runs_is_an_error(tmp_path, capsys):
    assert depth.main([*write(tmp_path, {2: SIGNALS[2]}), "--arm", "elu"]) == 1
    assert "no run of the arm elu" in capsys.readouterr().err


@pytest.mark.parametrize("values, vanishes", [([-0.2, -0.3, -0.25], True), ([-0.2, -0.3], False), ([-0.5], False)])
def test_vanishing_needs_the_whole_interval_below_zero(values, vanishes):
    low, high = depth.t_interval(values)
    row = depth.DepthRow(4, tuple(range(len(values))), tuple(values), sum(values) / len(values), low, high, math.nan)
    assert row.vanishes is vanishes
