"""The compute a head probe cannot avoid (``python -m benchmarks.head_cost``, from the repository root).

CPU seconds (process time, one thread) of one training step's forward and backward, batch 16, for the network
alone (the loss is a sum of squares of the maps, so the assigner and the data are left out): the end-to-end
study's detector (``experiment=study/head_activation study_base=neu_det``, 160 px), and the head-probe study's
head alone on trunk features of its size (``experiment=study/head_probe study_base=neu_det_probe``, 224 px).
Their ratio bounds what a cached head probe can gain per training step on this machine: it still runs its head.
``--numerics native portable`` measures both in one run, each in a fresh Python (the kernels are chosen at
torch's first kernel): the cost of ``numerics=portable`` (:mod:`yololab.utils.numerics`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from yololab.utils import numerics
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


def measure_all(batch: int, steps: int, mode: str) -> dict[str, float]:
    numerics.apply(mode)
    torch.set_num_threads(1)
    return {name: measure(name, overrides, batch, steps) for name, overrides in STUDIES.items()}


def in_fresh_python(batch: int, steps: int, mode: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in numerics.PORTABLE_VARIABLES}
    done = subprocess.run([sys.executable, "-m", "benchmarks.head_cost", "--batch", str(batch), "--steps",
                           str(steps), "--numerics", mode, "--json"], capture_output=True, text=True, check=True,
                          env=env)
    return json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.head_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--numerics", nargs="+", choices=numerics.MODES, default=["native"])
    parser.add_argument("--json", action="store_true", help="print the seconds as one JSON line")
    args = parser.parse_args(argv)
    if len(args.numerics) == 1:
        results = {args.numerics[0]: measure_all(args.batch, args.steps, args.numerics[0])}
    else:
        results = {mode: in_fresh_python(args.batch, args.steps, mode) for mode in args.numerics}
    if args.json:
        print(json.dumps(results[args.numerics[0]]))
        return 0
    for mode, seconds in results.items():
        for name, value in seconds.items():
            print(f"{mode} {name}: {value:.3f} CPU s per step (batch {args.batch}, forward and backward, 1 thread)")
        ratio = seconds["end-to-end"] / seconds["head probe (head only)"]
        print(f"{mode} end-to-end / head probe: {ratio:.2f}x (the most a head probe can gain per training step)")
    if {"native", "portable"} <= results.keys():
        for name in STUDIES:
            print(f"portable / native, {name}: {results['portable'][name] / results['native'][name]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
