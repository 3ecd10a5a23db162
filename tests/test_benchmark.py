"""scripts/benchmark.py runs its variants on real image files and writes one row per variant.
(Its figures are printed, never asserted: speed is not a test.)"""

import json
import math

from omegaconf import OmegaConf
from tests.conftest import compose_config

from yololab.tasks import benchmark


def test_benchmark_runs_each_variant_and_writes_json(tmp_path, synthetic_root, capsys):
    cfg = compose_config(tmp_path, [f"data.root={synthetic_root}", "data=synthetic", "data.synthetic=null",
                                    "data.img_size=64", "data.batch_size=4", "data.loader.num_workers=0",
                                    "benchmark.warmup=1", "benchmark.steps=3", "benchmark.loader_batches=2",
                                    "trainer.log_every_n_steps=2", "callbacks.validation_report=null"],
                         config_name="benchmark")
    cfg.benchmark.variants = OmegaConf.create({"all_off": {"model.channels_last": False, "data.cache.ram": False},
                                               "default": {}})
    report = benchmark.run(cfg)
    written = json.loads((tmp_path / "run" / "benchmark.json").read_text())
    assert set(written["cpu_bf16"]) == {"amx_bf16", "avx512_bf16", "amx_tile"}
    assert list(written["yololab"]) == ["all_off", "default"] == list(report["yololab"])
    for row in written["yololab"].values():
        assert row["train_images_per_s"] > 0 and row["val_seconds"] > 0
        assert row["val_images"] == 16 and 0 < row["val_share_of_epoch"] < 1
        assert not math.isnan(row["step_ms"]) and not math.isnan(row["logging_step_ms"])
    out = capsys.readouterr().out
    assert out.count("yololab all_off") == 1 and out.count("yololab default") == 1
    assert out.startswith("CPU bf16 flags: ")


SAPPHIRE_RAPIDS = """processor\t: 0
flags\t\t: fpu vme avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
vmx flags\t: vnmi preemption_timer
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu vme avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""
SKYLAKE = "processor\t: 0\nflags\t\t: fpu vme avx512f avx512bw avx512_vnni\nbugs\t\t: mds\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n"


def test_cpu_bf16_flags_read_from_the_cpuinfo_text():
    assert benchmark.cpu_bf16_flags(SAPPHIRE_RAPIDS) == {"amx_bf16": True, "avx512_bf16": True, "amx_tile": True}
    assert benchmark.cpu_bf16_flags(SKYLAKE) == {"amx_bf16": False, "avx512_bf16": False, "amx_tile": False}
    assert not any(benchmark.cpu_bf16_flags(ARM).values())  # only the x86 flags line counts
    assert "AMX-BF16" in benchmark.describe_cpu_bf16(benchmark.cpu_bf16_flags(SAPPHIRE_RAPIDS))
    assert "emulated" in benchmark.describe_cpu_bf16(benchmark.cpu_bf16_flags(SKYLAKE))
    assert benchmark.cpu_bf16_support("/nonexistent/cpuinfo") == benchmark.cpu_bf16_flags("")
