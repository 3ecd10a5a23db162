"""benchmarks/head_cost.py (the compute bound of a head probe) runs on the study configs as they are, so a config
rename cannot leave it broken unseen; what it prints is parsed, not timed."""

import re

from benchmarks import head_cost


def test_head_cost_measures_both_studies_and_prints_their_ratio(capsys):
    assert head_cost.main(["--batch", "1", "--steps", "1"]) == 0
    out = capsys.readouterr().out
    seconds = {name: float(value) for name, value in re.findall(r"^(.+): ([\d.]+) CPU s per step", out, re.M)}
    assert set(seconds) == {"end-to-end", "head probe (head only)"}
    assert all(value > 0 for value in seconds.values())
    ratio = float(re.search(r"end-to-end / head probe: ([\d.]+)x", out).group(1))
    e2e, probe = seconds["end-to-end"], seconds["head probe (head only)"]
    rounding = e2e / probe * (0.0005 / e2e + 0.0005 / probe) + 0.005  # printed to 3 and 2 decimals
    assert abs(ratio - e2e / probe) <= rounding
