"""scripts/show_augmentations.py and scripts/benchmark_loader.py run on a small real dataset.
(The benchmark's figures are printed, never asserted: speed is not a test.)"""

import numpy as np
from PIL import Image
from tests.conftest import compose_config

from yololab.tasks import benchmark_loader, show_augmentations


def test_show_augmentations_writes_a_grid_png(tmp_path, synthetic_root):
    cfg = compose_config(tmp_path, [f"data.root={synthetic_root}", "data.synthetic=null", "data.img_size=64",
                                    "rows=2", "cols=3"], config_name="show_augmentations")
    out = show_augmentations.run(cfg)
    assert out == tmp_path / "run" / "augmentations.png"
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 * 64 + 3 * 4, 3 * 64 + 4 * 4, 3)  # make_grid: 4 px padding around each cell
    assert (grid[..., 0] > grid[..., 1] + 100).any()  # red box outlines were drawn


def test_benchmark_loader_prints_one_row_per_setting(tmp_path, synthetic_root, capsys):
    cfg = compose_config(tmp_path, [f"data.root={synthetic_root}", "data=synthetic", "data.synthetic=null",
                                    "data.img_size=64", "batches=1", "workers=[0]", "ram_cache=[false,true]"],
                         config_name="benchmark_loader")
    rows = benchmark_loader.run(cfg)
    assert [(r["workers"], r["ram_cache"], r["mosaic"]) for r in rows] == [
        (0, False, True), (0, False, False), (0, True, True), (0, True, False)]
    assert all(r["images_per_s"] > 0 for r in rows)
    assert capsys.readouterr().out.count("\n") == 2 + 4
