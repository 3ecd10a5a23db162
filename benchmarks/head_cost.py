"""The compute a head probe cannot avoid (``python -m benchmarks.head_cost``, from the repository root).

CPU seconds (process time, one thread) of one training step's forward and backward, batch 16, for the network
alone (the loss is a sum of squares of the maps, so the assigner and the data are left out): the end-to-end
study's detector (``experiment=study/head_activation study_base=neu_det``, 160 px), and the head-probe study's
head alone on trunk features of its size (``experiment=study/head_probe study_base=neu_det_probe``, 224 px).
Their ratio bounds what a cached head probe can gain per training step on this machine: it still runs its head.
"""

from __future__ import annotations

import argparse
import time

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from yololab.utils.paths import CONFIG_DIR

STUDIES = {"end-to-end": ["experiment=study/head_activation", "study_base=neu_det"],
           "head probe (head only)": ["experiment=study/head_probe", "study_base=neu_det_probe"]}
NEU_DET_CLASSES = 6


def module_and_size(overrides: list[str]):
    with initialize_config_dir(str(CONFIG_DIR), version_base=None):
        cfg = compose("train", overrides=[*overrides, "model.head.activation=relu"])
    module = instantiate(cfg.model, class_names=[f"class_{i}" for i in range(NEU_DET_CLASSES)])
    module.setup("fit")  # the speed switches a run applies (channels-last by default)
    return module, cfg.data.img_size


def seconds_per_step(step, steps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        step()
    start = time.process_time()
    for _ in range(steps):
        step()
    return (time.process_time() - start) / steps


def measure(name: str, overrides: list[str], batch: int, steps: int) -> float:
    module, size = module_and_size(overrides)
    model = module.model.train()
    images = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    if module.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    if model.frozen:  # the cached features: the trunk's maps, computed once, outside the timing
        with torch.no_grad():
            features = model.features(images)
        maps = lambda: model.head(features)  # noqa: E731
    else:
        maps = lambda: model(images)  # noqa: E731

    def step() -> None:
        model.zero_grad(set_to_none=True)
        sum(m.square().mean() for m in maps()).backward()

    return seconds_per_step(step, steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.head_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = {name: measure(name, overrides, args.batch, args.steps) for name, overrides in STUDIES.items()}
    for name, seconds in results.items():
        print(f"{name}: {seconds:.3f} CPU s per step (batch {args.batch}, forward and backward, 1 thread)")
    ratio = results["end-to-end"] / results["head probe (head only)"]
    print(f"end-to-end / head probe: {ratio:.2f}x (the most a head probe can gain per training step)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
