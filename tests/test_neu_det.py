"""NEU-DET from ../shared/datasets/neu-det: 1440/360 images with the instance counts of its label files."""

from collections import Counter

import pytest
from tests.conftest import neu_det_or_skip

from yololab.data.datamodule import DefectDataModule, LoaderSettings
from yololab.data.stats import dataset_stats

pytestmark = pytest.mark.neu_det


def label_file_counts(root, split: str) -> Counter:
    """Instances per class id, read straight from the label text files."""
    counts = Counter()
    for path in (root / "labels" / split).glob("*.txt"):
        counts.update(int(line.split()[0]) for line in path.read_text().splitlines() if line.strip())
    return counts


def test_neu_det_loads_with_the_counts_of_its_label_files():
    root = neu_det_or_skip()
    dm = DefectDataModule(str(root), img_size=224, loader=LoaderSettings(num_workers=0))
    dm.setup("fit")
    assert dm.reader.name == "yolo"
    assert dm.class_names == ["crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"]
    assert len(dm.datasets["train"]) == 1440 and len(dm.datasets["val"]) == 360
    stats = dataset_stats(dm.records(), dm.class_names)
    for split in ("train", "val"):
        expected = label_file_counts(root, split)
        assert stats[split]["instances"] == {name: expected[i] for i, name in enumerate(dm.class_names)}
    batch = next(iter(dm.train_dataloader()))
    assert batch["images"].shape == (16, 3, 224, 224)
