"""DDP over gloo with two CPU processes, launched through the real CLI."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tests.conftest import compose_config

from yololab.data.datamodule import DefectDataModule, LoaderSettings
from yololab.data.synthetic import SyntheticDefects
from yololab.metrics import build_map_metric
from yololab.tasks import evaluate

REPO = Path(__file__).resolve().parents[1]


def test_ddp_cpu_trains_and_validates(tmp_path, synthetic_root):
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable, str(REPO / "scripts" / "train.py"), "trainer=ddp_cpu", "trainer.devices=2",
        f"data.root={synthetic_root}", "data.synthetic=null", "data.loader.num_workers=0", "data.batch_size=8",
        "trainer.max_epochs=1", "trainer.limit_train_batches=2", "logger=csv", f"hydra.run.dir={tmp_path}",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert any(r.get("val/mAP50") for r in rows)
    assert "distributed_backend=gloo" in proc.stdout + proc.stderr
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def eval_dataset(root: Path, overfit_root: Path, extra: int) -> Path:
    """The overfit images plus ``extra`` unseen ones as a val split: detections are varied, not all perfect."""
    import shutil

    from yololab.data.synthetic import SyntheticDefects

    SyntheticDefects(num_train=0, num_val=extra, image_size=160, seed=11).write(root)
    for kind in ("images", "labels"):
        for f in (overfit_root / kind / "train").iterdir():
            shutil.copy(f, root / kind / "val" / f"seen-{f.name}")
    return root


# 16 images (even over 2 ranks; slow) and 17 (uneven)
@pytest.mark.parametrize("extra", [pytest.param(8, marks=pytest.mark.slow), 9])
def test_ddp_validation_equals_single_process(tmp_path, overfit_run, overfit_root, extra):
    _, _, run_dir = overfit_run
    root = eval_dataset(tmp_path / "data", overfit_root, extra)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    overrides = [f"ckpt_path={ckpt}", f"data.root={root}", "data.batch_size=3", "data.loader.num_workers=0"]
    single = evaluate.run(compose_config(tmp_path / "single", [*overrides, "trainer=cpu"], config_name="eval"))
    assert 0.05 < single["val/mAP50"] < 0.999  # a non-trivial value to compare

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(REPO / "scripts" / "eval.py"), *overrides, "trainer=ddp_cpu",
           f"hydra.run.dir={tmp_path / 'ddp'}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    for key, value in single.items():
        if key.startswith("val/") and "loss" not in key:
            assert ddp[key] == pytest.approx(value, abs=1e-6), key


def image_case(image_id: int) -> tuple[dict, dict]:
    """Detections and ground truth that depend on the image id alone: some hits, some misses, one false
    positive, so that counting an image twice changes the mAP."""
    g = torch.Generator().manual_seed(image_id)
    corner = torch.rand(3, 2, generator=g) * 100
    gt = torch.cat([corner, corner + 20 + torch.rand(3, 2, generator=g) * 30], 1)
    found = torch.rand(3, generator=g) > 0.3
    boxes = torch.cat([gt[found] + (torch.rand(int(found.sum()), 4, generator=g) - 0.5) * 10,
                       torch.tensor([[150.0, 150, 170, 170]])])
    labels = torch.tensor([image_id % 2] * 3)
    preds = {"boxes": boxes, "scores": torch.rand(len(boxes), generator=g),
             "labels": torch.cat([labels[found], torch.tensor([image_id % 2])])}
    return preds, {"boxes": gt, "labels": labels}


def evaluate_val_shard(rank: int, world: int, root: str, store: str, out: str) -> None:
    """One DDP rank: the images the real val loader gives it, fed to the real gathered mAP."""
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        datamodule = DefectDataModule(root, img_size=64, batch_size=3,
                                      loader=LoaderSettings(num_workers=0, persistent_workers=False))
        datamodule.setup("validate")
        indices = [i for batch in datamodule.val_dataloader() for i in batch["indices"].tolist()]
        metric = build_map_metric()
        for i in indices:
            preds, target = image_case(i)
            metric.update([preds], [target], image_ids=torch.tensor([i]))
        result = metric.compute()
        metric.sync()  # the gathered state compute() saw: the images, and the boxes counted in each
        seen = [int(i) for i in metric.image_ids]
        gt_boxes = [len(labels) for labels in metric.groundtruth_labels]
        metric.unsync()
        Path(out, f"rank{rank}.json").write_text(json.dumps({
            "indices": indices, "map": float(result["map"]), "map_50": float(result["map_50"]), "seen": seen,
            "gt_boxes": gt_boxes}))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("num_val", [17])  # uneven over 2 ranks
def test_val_shards_cover_every_image_once_and_the_gathered_map_counts_it_once(tmp_path, num_val):
    """Two gloo ranks: the val loaders' shards are disjoint and cover the val set (no padding), and the mAP
    gathered by image id equals the single-process mAP over every image once."""
    root = tmp_path / "data"
    SyntheticDefects(num_train=1, num_val=num_val, image_size=64, seed=5).write(root)
    mp.spawn(evaluate_val_shard, args=(2, str(root), str(tmp_path / "store"), str(tmp_path)), nprocs=2)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    shards = [r["indices"] for r in ranks]
    assert sorted(shards[0] + shards[1]) == list(range(num_val))
    assert abs(len(shards[0]) - len(shards[1])) <= 1
    single = build_map_metric()
    for i in range(num_val):
        preds, target = image_case(i)
        single.update([preds], [target])
    expected = single.compute()
    for r in ranks:
        assert r["seen"] == list(range(num_val)) and r["gt_boxes"] == [3] * num_val
        assert r["map"] == pytest.approx(float(expected["map"]), abs=1e-6)
        assert r["map_50"] == pytest.approx(float(expected["map_50"]), abs=1e-6)
