"""Augmented boxes stay on the content they label: images with solid rectangles of known colours go
through every transform of the default preset (mosaic included); each box must still cover its colour.
Mosaic and mixup are reproducible from (seed, epoch, index) and stop for the last close_mosaic epochs."""

import hydra
import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import compose_config
from torch.utils.data import DataLoader

from yololab.data.datamodule import DefectDataModule
from yololab.data.dataset import DetectionDataset, collate
from yololab.data.mixing import MixUp, Mosaic, split_mixing
from yololab.data.records import ImageRecord
from yololab.data.sampler import ReproducibleSampler
from yololab.data.transforms import PAD_VALUE, build_pipeline

COLOURS = np.array([[230, 20, 20], [20, 230, 20], [20, 20, 230]], np.uint8)  # class k is colour k


def colour_scene(seed: int, width: int = 120, height: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grey background with one solid rectangle per colour, side by side, of random sizes."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), PAD_VALUE, np.uint8)
    boxes = []
    for k in range(3):
        x1 = k * width // 3 + int(rng.integers(0, 6))
        w, h = int(rng.integers(18, width // 3 - 6)), int(rng.integers(20, height - 10))
        y1 = int(rng.integers(0, height - h))
        image[y1:y1 + h, x1:x1 + w] = COLOURS[k]
        boxes.append([x1, y1, x1 + w, y1 + h])
    return image, np.asarray(boxes, np.float32), np.arange(3, dtype=np.int64)


def colour_fraction(image: np.ndarray, box, label: int) -> float:
    """The share of pixels inside ``box`` (1 px in from each side) whose dominant channel is the label's."""
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    patch = image[y1 + 1:y2 - 1, x1 + 1:x2 - 1].astype(int)
    if patch.size == 0:
        return 1.0
    saturated = patch.max(-1) - patch.min(-1) > 60  # grey background and pads are not saturated
    return float((saturated & (patch.argmax(-1) == label)).mean())


def assert_boxes_on_content(image: np.ndarray, boxes, labels, what: str) -> None:
    boxes = np.asarray(boxes).reshape(-1, 4)
    assert len(boxes), f"{what}: every box was dropped"
    for box, label in zip(boxes, np.asarray(labels).reshape(-1), strict=True):
        if min(box[2] - box[0], box[3] - box[1]) < 6:
            continue  # a sliver: its border pixels are all interpolation
        share = colour_fraction(image, box, int(label))
        assert share > 0.9, f"{what}: box {box.round(1).tolist()} of class {label} covers {share:.0%} of its colour"


def chw_to_hwc(image: torch.Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def default_preset(tmp_path_factory):
    cfg = compose_config(tmp_path_factory.mktemp("cfg"), ["data/augment=default"])
    return hydra.utils.instantiate(cfg.data.augment)


@pytest.fixture(scope="module")
def scene_records(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    records = []
    for i in range(8):
        image, boxes, labels = colour_scene(i, 120 + 8 * i, 100)
        Image.fromarray(image).save(folder / f"{i}.png")
        records.append(ImageRecord(str(folder / f"{i}.png"), image.shape[1], image.shape[0], boxes, labels))
    return records


def test_every_per_image_transform_keeps_boxes_on_their_content(default_preset):
    _, _, transforms = split_mixing(default_preset)
    assert [type(t).__name__ for t in transforms] == [
        "HorizontalFlip", "VerticalFlip", "Affine", "RandomBrightnessContrast"]
    for transform in transforms:
        transform.p = 1.0  # always apply it here
        pipeline = build_pipeline(128, [transform])
        for seed in range(8):
            image, boxes, labels = colour_scene(seed)
            pipeline.set_random_seed(seed)
            out = pipeline(image=image, bboxes=boxes, labels=labels)
            assert_boxes_on_content(chw_to_hwc(out["image"]), out["bboxes"], out["labels"],
                                    f"{type(transform).__name__} seed {seed}")


def test_mosaic_keeps_boxes_on_their_content(default_preset, scene_records):
    mosaic, _, _ = split_mixing(default_preset)
    assert isinstance(mosaic, Mosaic) and mosaic.p == 1.0
    dataset = DetectionDataset(scene_records, build_pipeline(128), 128, seed=0, mosaic=mosaic)
    sources = set()
    for index in range(len(scene_records)):
        sample = dataset[(0, index)]
        assert sample["image"].shape == (3, 128, 128)
        assert_boxes_on_content(chw_to_hwc(sample["image"]), sample["boxes"], sample["labels"], f"mosaic {index}")
        sources.add(len(sample["labels"]))
    assert max(sources) > 3  # boxes of several images in one sample


def test_the_whole_default_preset_keeps_boxes_on_their_content(default_preset, scene_records):
    mosaic, mixup, transforms = split_mixing(default_preset)
    dataset = DetectionDataset(scene_records, build_pipeline(128, transforms), 128, 0, mosaic, mixup)
    for epoch in range(3):
        for index in range(len(scene_records)):
            sample = dataset[(epoch, index)]
            assert_boxes_on_content(chw_to_hwc(sample["image"]), sample["boxes"], sample["labels"],
                                    f"default preset, epoch {epoch}, index {index}")


def test_mixup_blends_images_and_keeps_both_sets_of_boxes():
    a = {"image": torch.full((3, 4, 4), 200, dtype=torch.uint8), "bboxes": [[0, 0, 2, 2]], "labels": [1]}
    b = {"image": torch.full((3, 4, 4), 100, dtype=torch.uint8), "bboxes": [[1, 1, 3, 3]], "labels": [0]}
    rng = np.random.default_rng(0)
    r = np.random.default_rng(0).beta(32.0, 32.0)
    out = MixUp(p=1.0)(a, b, rng)
    assert torch.equal(out["image"], torch.full((3, 4, 4), round(200 * r + 100 * (1 - r)), dtype=torch.uint8))
    np.testing.assert_array_equal(out["bboxes"], [[0, 0, 2, 2], [1, 1, 3, 3]])
    assert out["labels"].tolist() == [1, 0]


def test_mixing_is_reproducible_and_stops_for_the_last_epochs(default_preset, scene_records):
    mosaic, _, _ = split_mixing(default_preset)

    def make():
        return DetectionDataset(scene_records, build_pipeline(128), 128, 5, mosaic, MixUp(p=0.5), mix_epochs=2)

    first, second = make(), make()
    for key in [(0, 3), (1, 3), (0, 5)]:
        a, b = first[key], second[key]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["boxes"], b["boxes"])
    assert not torch.equal(first[(0, 3)]["image"], first[(1, 3)]["image"])
    closed = first[(2, 3)]  # epoch 2 = mix_epochs: no mosaic, no mixup; just the letterbox
    record = scene_records[3]
    torch.testing.assert_close(closed["boxes"], torch.as_tensor(record.boxes) * closed["scale"].repeat(2))
    assert closed["labels"].tolist() == record.labels.tolist()


def test_close_mosaic_counts_from_the_trainers_last_epoch(tmp_path):
    dm = DefectDataModule(str(tmp_path), close_mosaic=10)
    assert dm.mix_epochs() is None  # no trainer: always on
    dm.trainer = L.Trainer(max_epochs=15, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert dm.mix_epochs() == 5


def test_batches_do_not_depend_on_the_number_of_workers(default_preset, scene_records):
    mosaic, _, transforms = split_mixing(default_preset)
    dataset = DetectionDataset(scene_records, build_pipeline(64, transforms), 64, 1, mosaic, MixUp(p=0.5))

    def batches(workers: int) -> list[dict]:
        sampler = ReproducibleSampler(len(dataset), shuffle=True, seed=1)
        sampler.set_epoch(3)
        return list(DataLoader(dataset, batch_size=3, sampler=sampler, num_workers=workers, collate_fn=collate))

    for a, b in zip(batches(0), batches(2), strict=True):
        assert torch.equal(a["images"], b["images"]) and torch.equal(a["targets"], b["targets"])
