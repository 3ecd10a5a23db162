"""benchmarks/head_cost.py (the compute bound of a head probe, and the cost of numerics=portable) runs on the study
configs as they are, so a config rename cannot leave it broken unseen; what it prints is parsed, not timed."""

import re

from benchmarks import head_cost

NAMES = {"end-to-end", "head probe (head only)"}


def printed(out: str) -> dict[tuple[str, str], float]:
    return {(mode, name): float(value)
            for mode, name, value in re.findall(r"^(\w+) (.+): ([\d.]+) CPU s per step", out, re.M)}


def within_rounding(ratio: float, a: float, b: float) -> bool:
    return abs(ratio - a / b) <= a / b * (0.0005 / a + 0.0005 / b) + 0.005  # printed to 3 and 2 decimals


def test_head_cost_measures_both_studies_and_prints_their_ratio(capsys):
    assert head_cost.main(["--batch", "1", "--steps", "1"]) == 0
    out = capsys.readouterr().out
    seconds = printed(out)
    assert set(seconds) == {("native", name) for name in NAMES} and all(v > 0 for v in seconds.values())
    ratio = float(re.search(r"native end-to-end / head probe: ([\d.]+)x", out).group(1))
    assert within_rounding(ratio, seconds["native", "end-to-end"], seconds["native", "head probe (head only)"])


def test_head_cost_prices_portable_numerics_against_native_in_one_run(capsys):
    assert head_cost.main(["--batch", "1", "--steps", "1", "--numerics", "native", "portable"]) == 0
    out = capsys.readouterr().out
    seconds = printed(out)
    assert set(seconds) == {(mode, name) for mode in ("native", "portable") for name in NAMES}
    for name in NAMES:
        ratio = float(re.search(rf"portable / native, {re.escape(name)}: ([\d.]+)x", out).group(1))
        assert within_rounding(ratio, seconds["portable", name], seconds["native", name])
