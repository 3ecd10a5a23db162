"""Images of more than 8 bits are scaled by the bits they use, the same way in every path that reads images."""

import numpy as np
import pytest
from PIL import Image
from tests.writers import distinct_image, write_yolo

from yololab.data.check import report, scan
from yololab.data.dataset import DetectionDataset
from yololab.data.formats import open_dataset
from yololab.data.image_cache import ImageCache
from yololab.data.images import read_image
from yololab.data.transforms import build_pipeline
from yololab.inference import read_images


def ramp(peak: int, width: int = 256, height: int = 32) -> np.ndarray:
    """A left-to-right 16-bit grey ramp from 0 to ``peak``."""
    return np.tile(np.linspace(0, peak, width).round().astype(np.uint16), (height, 1))


@pytest.mark.parametrize(("peak", "bits"), [(65535, 16), (4095, 12)], ids=["16-bit", "12-bit in 16"])
def test_a_wide_ramp_keeps_its_gradation(tmp_path, peak, bits):
    path = tmp_path / "ramp.png"
    Image.fromarray(ramp(peak)).save(path)
    assert Image.open(path).mode == "I;16"
    row = read_image(str(path))[0, :, 0].astype(int)
    assert len(np.unique(row)) >= 250  # PIL's convert("RGB") leaves 2 or 3 values: 0, 1 and 255
    assert (np.diff(row) >= 0).all() and row[0] == 0 and row[-1] == 255
    expected = np.rint(ramp(peak)[0].astype(float) * 255 / (2**bits - 1))
    np.testing.assert_array_equal(row, expected)


def test_every_path_reads_a_wide_image_alike_and_the_check_reports_depths(tmp_path):
    """Training (the dataset and its RAM cache), the data check and predict all decode the same pixels."""
    root = write_yolo(tmp_path / "ds", {"train": {"ok.png": (distinct_image(0, 64, 32), [(0, 4, 4, 20, 20)]),
                                                  "wide.png": (distinct_image(1, 64, 32), [(0, 4, 4, 20, 20)])}},
                      ["crack"])
    wide = root / "images" / "train" / "wide.png"
    Image.fromarray(ramp(4095, 64, 32)).save(wide)  # a 12-bit camera's image in a 16-bit file
    expected = read_image(str(wide))
    assert len(np.unique(expected)) > 60

    cache = ImageCache(budget=10**9)
    result = scan(open_dataset(root), {"train": "train"}, on_image=cache.add)
    assert "bit depths: 1 images 16-bit (12 bits used), 1 images 8-bit" in report(result, ["crack"])
    np.testing.assert_array_equal(cache.get(str(wide)), expected)  # the RAM cache
    records = result.records["train"]
    dataset = DetectionDataset(records, build_pipeline(64), 64)
    index = [r.path for r in records].index(str(wide))
    np.testing.assert_array_equal(dataset.load(index)["image"], expected)  # training from disk
    (_, predicted), = read_images([wide])[0]
    np.testing.assert_array_equal(predicted, expected)  # predict and export
