"""The tables of docs/head-probe-study/README.md that scripts write from the committed run folders are those
scripts' output, verbatim: a table edited by hand, or a change of a script's arithmetic or format that the page
did not follow, fails here (the README's results block has its own test, test_study_readme.py)."""

from pathlib import Path

import pytest

from yololab.study import depth, entry_bar, interaction

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs/head-probe-study/README.md"
RUNS = "docs/head-probe-study/runs"
PAIR = [f"{RUNS}/mlp_batchnorm", f"{RUNS}/mlp_depth2"]
ALSO = ["--also", "val/mAP50-95", "--also", "train/loss_epoch", "--also", "val/loss"]
TABLES = {  # the scripts/*.py command of each table, as the page gives it
    "depth search": (depth.main, [f"{RUNS}/depth_search", f"{RUNS}/mlp_depth2", "--arm", "relu"]),
    "depth search, torch_default": (depth.main, [f"{RUNS}/depth_search_torch_default", "--arm", "relu"]),
    "fc, first step": (entry_bar.main, [f"{RUNS}/fc_ablations", "--reference", f"{RUNS}/mlp_depth2", *ALSO]),
    "fc, second step": (entry_bar.main, [f"{RUNS}/fc_second_step", "--reference", f"{RUNS}/mlp_depth2", *ALSO]),
    "BatchNorm interaction, mAP50-95": (interaction.main, [*PAIR, "--labels", "mlp + BatchNorm", "mlp, no norm"]),
    "BatchNorm interaction, vanishing": (interaction.main, [*PAIR, "--labels", "mlp + BatchNorm", "mlp, no norm",
                                                            "--measure", "vanishing"]),
}


@pytest.mark.parametrize("table", list(TABLES))
def test_a_table_on_the_study_page_is_its_scripts_output(table, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    main, args = TABLES[table]
    assert main(args) == 0
    out = capsys.readouterr().out.strip()
    assert out.count("\n| ") >= 2  # a table, not an error line
    assert out in PAGE.read_text(), f"{table}: the page's table is not `{' '.join(args)}`'s output"
