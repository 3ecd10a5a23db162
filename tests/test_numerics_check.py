"""benchmarks/numerics_check.py: the comparison of two machines' per-step losses, and its refusal to write over
a file (the training it runs is exercised by hand: docs/runs-2026-12-04/numerics/)."""

import json

import pytest
from tests.conftest import REPO

from benchmarks import numerics_check


def test_steps_are_compared_bit_for_bit_as_the_csv_wrote_them():
    mine = {"losses": {"0": "11.938772201538086", "1": "11.311864852905273", "2": "10.5"}}
    theirs = {"losses": {"0": "11.938772201538086", "1": "11.311864852905274", "3": "9.0"}}
    assert numerics_check.compare(mine, theirs) == (2, 1, "1")
    assert numerics_check.compare(mine, mine) == (3, 3, None)


def test_the_committed_reference_holds_both_modes_from_one_machine():
    ref = json.loads((REPO / "docs/runs-2026-12-04/numerics/avx512-epyc.json").read_text())
    assert ref["native"]["environment"]["cpu_capability"] == "AVX512"
    assert ref["portable"]["environment"]["cpu_capability"] == "AVX2"
    assert ref["portable"]["environment"]["mkldnn_enabled"] is False
    assert len(ref["portable"]["losses"]) == len(ref["native"]["losses"]) == 20
    assert "numerics=portable" in ref["portable"]["command"]


def test_an_existing_output_file_is_never_overwritten(tmp_path):
    out = tmp_path / "check.json"
    out.write_text("mine")
    with pytest.raises(SystemExit, match="exists; not overwriting it"):
        numerics_check.main(["--out", str(out)])
    assert out.read_text() == "mine"


def test_a_missing_or_foreign_reference_is_named_before_any_training(tmp_path):
    (tmp_path / "foreign.json").write_text(json.dumps({"native": {"losses": [1.0]}}))
    for against in (tmp_path / "absent.json", tmp_path / "foreign.json"):
        with pytest.raises(SystemExit, match=f"{against} is not a trace this check wrote"):
            numerics_check.main(["--out", str(tmp_path / "out.json"), "--against", str(against)])
    assert not (tmp_path / "out.json").exists()
    assert numerics_check.read_trace(REPO / "docs/runs-2026-12-04/numerics/avx512-epyc.json")["native"]["losses"]
