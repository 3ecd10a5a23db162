"""Forker trials (issue 26): a fork extends yololab with files of its own, never an edit under ``src/yololab/``.

Each trial lays out a fork's project the way a forker would: a project folder (``pyproject.toml``) holding the
fork's package, the commands run from there, reaching the package through the project root on ``sys.path`` and
the ``imports=`` key (``yololab.cli.prepare``, what every entry point runs before its task).
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest
from tests.conftest import compose_config, working_dir

from yololab.checkpoints import CheckpointError
from yololab.cli import prepare
from yololab.data.formats import FORMATS
from yololab.models.heads import HEADS
from yololab.utils import imports

TINY = ["data.synthetic=null", "data.img_size=64", "data.batch_size=4", "data.loader.num_workers=0", "logger=csv",
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
    saved = [(registry, dict(registry)) for registry in (FORMATS, HEADS)]
    with working_dir(project):
        yield project
    for registry, entries in saved:  # what the fork registered goes with it
        registry.clear()
        registry.update(entries)
    for name in [n for n, m in sys.modules.items() if str(getattr(m, "__file__", "")).startswith(str(project))]:
        del sys.modules[name]


def write_package(project: Path, package: str, files: dict[str, str]) -> None:
    """The fork's package ``package`` in the project folder: ``files`` maps module names to their source."""
    folder = project / package
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for name, text in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))


def new_command(*modules: str) -> None:
    """What a new process would hold: none of ``modules`` imported, nothing they registered."""
    imports.IMPORTED.clear()
    for name in modules:
        sys.modules.pop(name, None)
    for registry in (FORMATS, HEADS):
        for key in [k for k, cls in registry.items() if cls.__module__ in modules]:
            del registry[key]


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


def train_then_evaluate(tmp_path, root, overrides, module: str) -> Path:
    """Train with the fork's ``overrides``; in a new command, eval refuses the checkpoint until ``imports=[module]``
    is passed, then evaluates it. The checkpoint."""
    cfg, _ = run_task("train", tmp_path / "train", [f"data.root={root}", *TINY, *overrides], "train")
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    new_command(module)
    evaluation = [f"ckpt_path={ckpt}", f"data.root={root}", "trainer=cpu", "data.loader.num_workers=0"]
    with pytest.raises(CheckpointError, match=rf"pass imports=\[{re.escape(module)}\]"):
        run_task("evaluate", tmp_path / "refused", evaluation, "eval")
    _, metrics = run_task("evaluate", tmp_path / "eval", [*evaluation, f"imports=[{module}]"], "eval")
    assert "val/mAP50-95" in metrics
    return ckpt


@pytest.mark.slow
def test_trial_1_fork_activation_trains_evaluates_exports(fork, tmp_path, synthetic_root):
    """Files a forker touches: ``myfork_acts/acts.py`` (+ an empty ``__init__.py``); then ``imports=`` on eval,
    predict and export, which each checkpoint names when it is missing."""
    write_package(fork, "myfork_acts", {"acts": ACTS})
    act = ["model.head.activation=myfork_acts.acts.ScaledTanh:2"]
    ckpt = train_then_evaluate(tmp_path, synthetic_root, act, "myfork_acts.acts")
    images = f"verify.images={synthetic_root / 'images' / 'val'}"
    _, report = run_task("export", tmp_path / "export", [f"ckpt_path={ckpt}", "imports=[myfork_acts.acts]", images,
                                                         "verify.num_images=2"], "export")
    assert Path(report["onnx"]).is_file()


CSV_FORMAT = """
    import csv
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from yololab.data.formats import register_format
    from yololab.data.records import ImageRecord


    @register_format("csv")
    class CSVFormat:
        \"\"\"classes.txt, images/<file>, labels.csv rows: split,image,class,x1,y1,x2,y2 (pixels).\"\"\"

        name = "csv"
        expects = "labels.csv"

        def __init__(self, root, keep_difficult=False):
            self.root = Path(root)
            self.class_names = (self.root / "classes.txt").read_text().split()
            with open(self.root / "labels.csv", newline="") as f:
                self.rows = list(csv.DictReader(f))

        @staticmethod
        def detect(root):
            return (Path(root) / "labels.csv").is_file()

        def splits(self):
            return sorted({row["split"] for row in self.rows})

        def image_dir(self, split):
            return self.root / "images"

        def load(self, split):
            boxes = {}
            for row in self.rows:
                if row["split"] == split:
                    box = [float(row[k]) for k in ("x1", "y1", "x2", "y2")]
                    boxes.setdefault(row["image"], []).append((box, self.class_names.index(row["class"])))
            records = []
            for name, found in boxes.items():
                path = self.root / "images" / name
                width, height = Image.open(path).size
                records.append(ImageRecord(str(path), width, height, np.array([b for b, _ in found], np.float32),
                                           np.array([c for _, c in found], np.int64)))
            return records, []
"""


def yolo_to_csv(source: Path, target: Path) -> None:
    """The synthetic YOLO set, written as the fork's CSV format (the forker's own dataset)."""
    import shutil

    from yololab.data.formats import open_dataset

    reader = open_dataset(source, "yolo")
    (target / "images").mkdir(parents=True)
    (target / "classes.txt").write_text("\n".join(reader.class_names))
    rows = ["split,image,class,x1,y1,x2,y2"]
    for split in reader.splits():
        for record in reader.load(split)[0]:
            name = f"{split}_{Path(record.path).name}"
            shutil.copy(record.path, target / "images" / name)
            rows += [f"{split},{name},{reader.class_names[c]},{','.join(f'{v:.2f}' for v in box)}"
                     for box, c in zip(record.boxes.tolist(), record.labels.tolist(), strict=True)]
    (target / "labels.csv").write_text("\n".join(rows) + "\n")


def test_trial_3_fork_csv_format_passes_the_data_check(fork, tmp_path, synthetic_root, capsys):
    """Files a forker touches: ``myfork_csv/csv_format.py`` (+ an empty ``__init__.py``); ``imports=`` on the
    command line. The format is then known to ``data.format``, to ``auto`` and to the "valid:" message."""
    write_package(fork, "myfork_csv", {"csv_format": CSV_FORMAT})
    root = tmp_path / "csv-data"
    yolo_to_csv(synthetic_root, root)
    data = [f"data.root={root}", "data.synthetic=null"]
    with pytest.raises(ValueError, match=r"data.format='csv': one of auto, yolo, coco, voc \("):
        run_task("check_data", tmp_path / "unknown", [*data, "data.format=csv"], "check_data")
    for data_format in ("csv", "auto"):
        overrides = [*data, f"data.format={data_format}", "imports=[myfork_csv.csv_format]"]
        _, status = run_task("check_data", tmp_path / data_format, overrides, "check_data")
        assert status == 0, capsys.readouterr().out
        assert "(csv format)" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"one of auto, yolo, coco, voc, csv"):
        run_task("check_data", tmp_path / "typo", [*data, "data.format=cvs"], "check_data")


HEADS_SOURCE = """
    from __future__ import annotations

    from torch import nn

    from yololab.models.heads import register_head
    from yololab.models.heads.base import HeadArgs, PerLevelHead, Unpack
    from yololab.nn.blocks import ConvNormAct


    @register_head("depthwise")
    class DepthwiseHead(PerLevelHead):
        \"\"\"Per level: a depthwise 3x3 ConvNormAct, then plain torch 1x1 Conv2d + BatchNorm2d + SiLU, then a
        linear 1x1 conv.\"\"\"

        def __init__(self, in_channels: tuple[int, ...], num_classes: int, norm: str = "batch",
                     **common: Unpack[HeadArgs]):
            super().__init__(num_classes, **common)

            def branch(kind, c, out, act):
                return nn.Sequential(ConvNormAct(c, c, 3, activation=act, norm=norm, groups=c),
                                     nn.Conv2d(c, 32, 1, bias=False), nn.BatchNorm2d(32), nn.SiLU(),
                                     nn.Conv2d(32, out, 1))

            self.build_branches(in_channels, self.strides, branch)
"""
DEPTHWISE = "model.head._target_=myfork_heads.heads.DepthwiseHead"  # a fork's configs/model/head/depthwise.yaml


def test_trial_2_depthwise_head_is_read_like_a_built_in_one(fork, tmp_path):
    """Init, census, gradient flow and BatchNorm fusion see the fork's plain torch blocks; a lone activation is
    named, never skipped."""
    import re

    import hydra
    import torch
    from torch import nn

    from yololab.callbacks.gradient_flow import select_layers
    from yololab.models.summary import activation_census
    from yololab.nn.protocol import ProtocolError, blocks, fuse_batchnorm

    write_package(fork, "myfork_heads", {"heads": HEADS_SOURCE})
    cfg = compose_config(tmp_path, [DEPTHWISE, "imports=[myfork_heads.heads]", "data.img_size=64"])
    prepare(cfg)
    head = hydra.utils.instantiate(cfg.model, class_names=["a", "b"]).model.head
    assert activation_census(head) == {"silu": 12}  # per level and branch: the depthwise block and the plain one
    assert head.box[0][0][0].groups == head.box[0][0][0].in_channels
    plain = head.box[0][1].weight
    assert abs(plain.std().item() * (plain[0].numel() ** 0.5) - 1.6766) < 0.15  # SiLU's gain, not torch's default
    assert len(select_layers(head, re.compile("box"))) == 9 and all(b.spec for b in blocks(head))
    fused = fuse_batchnorm(head)
    assert not [m for m in fused.modules() if isinstance(m, nn.BatchNorm2d)]
    channels = [branch[0][0].in_channels for branch in head.box]
    feats = [torch.rand(1, c, s, s) for c, s in zip(channels, (8, 4, 2), strict=True)]
    with torch.no_grad():
        assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(head.eval()(feats), fused(feats), strict=True))
    lone = nn.ModuleDict({"conv": nn.Conv2d(3, 3, 1), "act": nn.ReLU()})
    with pytest.raises(ProtocolError, match=r"^act \(ReLU\) is an activation outside any block"):
        blocks(lone)


@pytest.mark.slow
def test_trial_2_depthwise_head_trains_and_evaluates(fork, tmp_path, synthetic_root):
    """Files a forker touches: ``myfork_heads/heads.py`` (+ ``__init__.py``) and its head config (here the
    ``_target_`` override); ``imports=`` on eval, which the checkpoint asks for."""
    write_package(fork, "myfork_heads", {"heads": HEADS_SOURCE})
    head = [DEPTHWISE, "imports=[myfork_heads.heads]"]
    train_then_evaluate(tmp_path, synthetic_root, head, "myfork_heads.heads")


@pytest.mark.slow
def test_trial_4_scaffolded_study_runs_and_is_reported(tmp_path, monkeypatch, synthetic_root):
    """Files a forker touches: the three that ``scripts/new_study.py`` writes (here only the sweep file's seeds
    are cut, to keep the trial short); the sweep runs them and the report reads them, with no other edit."""
    import shutil

    import yaml
    from tests.conftest import MINI_SWEEP_OVERRIDES, REPO

    from yololab.study import report
    from yololab.study.runner import main as sweep
    from yololab.study.scaffold import main as new_study

    shutil.copytree(REPO / "configs", tmp_path / "configs")  # the fork's clone
    monkeypatch.setenv("YOLOLAB_CONFIG_DIR", str(tmp_path / "configs"))
    assert new_study(["rough-steel", "--root", str(tmp_path)]) == 0
    study = tmp_path / "studies" / "rough-steel"
    sweep_cfg = yaml.safe_load((study / "sweep.yaml").read_text())
    sweep_cfg["parameters"]["seed"]["values"] = [0, 1]
    (study / "sweep.yaml").write_text(yaml.safe_dump(sweep_cfg, sort_keys=False))
    with working_dir(REPO):
        status = sweep([str(study / "sweep.yaml"), "--jobs", "2", "--dir", str(tmp_path / "runs"), "--",
                        *MINI_SWEEP_OVERRIDES, f"data.root={synthetic_root}"])
    assert status == 0, [p.read_text()[-2000:] for p in (tmp_path / "runs").glob("*/console.log")]
    out = tmp_path / "report"
    assert report.main([str(tmp_path / "runs"), "--out", str(out), "--study", str(study / "study.yaml"),
                        "--no-figures"]) == 0
    text = (out / "report.md").read_text()
    assert "silu" in text and "relu" in text


def test_a_checkpoint_records_the_fork_modules_its_config_needs():
    config = {"imports": ["myfork.registry"], "model": {"_target_": "yololab.module.YOLODetectorModule", "head": {
        "_target_": "myfork.heads.DepthwiseHead", "activation": "myfork.acts.ScaledTanh:2",
        "box_activation": "torch.nn.Hardtanh", "cls_activation": "leaky_relu:0.1"}}}
    assert imports.needed_modules(config) == ["myfork.registry", "myfork.heads", "myfork.acts"]


def test_a_bad_imports_value_names_the_key(fork):
    with pytest.raises(ValueError, match=r"imports: cannot import 'no_such_fork\.acts' \(No module named"):
        imports.import_modules(["no_such_fork.acts"])
    with pytest.raises(ValueError, match=r"imports=\['a b'\]: 'a b' is not a module path"):
        imports.import_modules(["a b"])
    assert imports.project_root() == fork
