"""Forker trials (issue 26): a fork extends yololab with files of its own, never an edit under ``src/yololab/``.

Each trial lays out a fork's project the way a forker would: a project folder (``pyproject.toml``) holding the
fork's package, the commands run from there, reaching the package through the project root on ``sys.path`` and
the ``imports=`` key (``yololab.cli.prepare``, what every entry point runs before its task).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from tests.conftest import compose_config, working_dir

from yololab.checkpoints import CheckpointError
from yololab.cli import prepare
from yololab.utils import imports

TINY = ["data.synthetic=null", "data.img_size=64", "data.batch_size=4", "data.num_workers=0", "logger=csv",
        "trainer=cpu", "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
        "callbacks.validation_report=null"]


@pytest.fixture
def fork(tmp_path, monkeypatch):
    """A fork's project folder, the working directory; ``sys.path``, ``sys.modules`` and the imported-module
    record come back as they were afterwards."""
    project = tmp_path / "fork"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'myfork'\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(imports, "IMPORTED", [])
    with working_dir(project):
        yield project
    for name in [n for n, m in sys.modules.items() if str(getattr(m, "__file__", "")).startswith(str(project))]:
        del sys.modules[name]


def write_package(project: Path, package: str, files: dict[str, str]) -> None:
    """The fork's package ``package`` in the project folder: ``files`` maps module names to their source."""
    folder = project / package
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for name, text in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))


def run_task(task: str, tmp_path: Path, overrides: list[str], config_name: str):
    """``task.run`` on the composed config after what every entry point does first (``cli.prepare``)."""
    import importlib

    cfg = compose_config(tmp_path, overrides, config_name=config_name)
    prepare(cfg)
    return cfg, importlib.import_module(f"yololab.tasks.{task}").run(cfg)


ACTS = """
    import torch
    from torch import nn


    class ScaledTanh(nn.Module):
        def __init__(self, beta: float = 1.0):
            super().__init__()
            self.beta = beta

        def forward(self, x):
            return torch.tanh(self.beta * x)
"""


@pytest.mark.slow
def test_trial_1_fork_activation_trains_evaluates_exports(fork, tmp_path, synthetic_root):
    """Files a forker touches: ``myfork_acts/acts.py`` (+ an empty ``__init__.py``); then ``imports=`` on eval,
    predict and export, which each checkpoint names when it is missing."""
    write_package(fork, "myfork_acts", {"acts": ACTS})
    act = ["model.head.activation=myfork_acts.acts.ScaledTanh:2"]
    cfg, _ = run_task("train", tmp_path / "train", [f"data.root={synthetic_root}", *TINY, *act], "train")
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"

    imports.IMPORTED.clear()  # a new command: nothing imported yet
    sys.modules.pop("myfork_acts.acts")
    evaluation = [f"ckpt_path={ckpt}", f"data.root={synthetic_root}", "trainer=cpu", "data.num_workers=0"]
    with pytest.raises(CheckpointError, match=r"pass imports=\[myfork_acts.acts\]"):
        run_task("evaluate", tmp_path / "refused", evaluation, "eval")
    _, metrics = run_task("evaluate", tmp_path / "eval", [*evaluation, "imports=[myfork_acts.acts]"], "eval")
    assert "val/mAP50-95" in metrics
    images = f"verify.images={synthetic_root / 'images' / 'val'}"
    _, report = run_task("export", tmp_path / "export", [f"ckpt_path={ckpt}", "imports=[myfork_acts.acts]", images,
                                                         "verify.num_images=2"], "export")
    assert Path(report["onnx"]).is_file()
