"""Independent check of the backward-signal ratio (vanishing): no yololab import, only raw ``csv/metrics.csv``.

Per run: for every path through the head (``head.<box|cls>.<level>``), per logged step, log10 of
``gradflow/input_grad_norm`` at layer 1 (the first hidden layer's output) over that at the path's last layer (the
last hidden layer's output); the mean over the paths logged at a step, then over the steps, is the run's ratio (a
path whose signal was exactly zero at a step, no loss term reaching it, is not logged there), and the mean over the
paths at the first logged step alone, its ratio under the initial weights. Prints the mean and 95% t interval
per arm and depth, and, given a ``results.json``, its paired vanishing comparisons beside scipy's.

    python docs/head-probe-study/checks/backward_signal.py docs/head-probe-study/runs/mlp_depth2 \
        docs/head-probe-study/mlp_depth2/results.json
"""

import csv
import json
import pathlib
import re
import sys

import numpy as np
import yaml
from scipy import stats

COLUMN = re.compile(r"gradflow/input_grad_norm/(.*)\.(\d+)$")


def run_ratio(path: pathlib.Path, first_step_only: bool = False) -> float:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    layers: dict[str, list[int]] = {}
    for column in rows[0]:
        if match := COLUMN.match(column):
            layers.setdefault(match[1], []).append(int(match[2]))
    steps: dict[int, list[float]] = {}  # step -> the log10 ratio of each path logged at that step
    for head_path, index in layers.items():
        first, last = f"gradflow/input_grad_norm/{head_path}.1", f"gradflow/input_grad_norm/{head_path}.{max(index)}"
        for r in rows:
            if r[first] and r[last]:
                steps.setdefault(int(r["step"]), []).append(np.log10(float(r[first]) / float(r[last])))
    if first_step_only:
        return float(np.mean(steps[min(steps)]))
    return float(np.mean([np.mean(v) for v in steps.values()]))


def main(root: str, results: str | None = None) -> None:
    per_run, at_start = {}, {}
    for path in pathlib.Path(root).rglob("csv/metrics.csv"):
        config = yaml.safe_load((path.parent.parent / "config.yaml").read_text())
        key = (str(config["arm"]), int(config["model"]["head"]["depth"]), int(config["seed"]))
        per_run[key], at_start[key] = run_ratio(path), run_ratio(path, first_step_only=True)
    groups: dict[tuple[str, int], list[float]] = {}
    for (arm, depth, _), ratio in per_run.items():
        groups.setdefault((arm, depth), []).append(ratio)
    for (arm, depth), ratios in sorted(groups.items()):
        r = np.array(ratios)
        half = stats.t.ppf(0.975, len(r) - 1) * r.std(ddof=1) / np.sqrt(len(r)) if len(r) > 1 else float("nan")
        print(f"{arm:16s} depth {depth}  n={len(r):2d}  mean log10 ratio {r.mean():+.4f}  "
              f"95% CI [{r.mean() - half:+.4f}, {r.mean() + half:+.4f}]  at the first logged step "
              f"{np.mean([v for (a, d, _), v in at_start.items() if (a, d) == (arm, depth)]):+.4f}")
    if results is None:
        return
    by_seed = {(arm, seed): ratio for (arm, _, seed), ratio in per_run.items()}
    for cid, c in json.loads(pathlib.Path(results).read_text())["comparisons"].items():
        if c["quantity"] != "vanishing":
            continue
        seeds = sorted(s for a, s in by_seed if a == c["arm"] and (c["reference"], s) in by_seed)
        d = np.array([by_seed[(c["arm"], s)] - by_seed[(c["reference"], s)] for s in seeds])
        p = stats.ttest_1samp(d, 0.0).pvalue
        print(f"{cid}: {d.mean():+.6f} p {p:.4g} (results.json: {c['estimate']:+.6f} p {c['p']:.4g}); "
              f"difference {abs(d.mean() - c['estimate']):.1e}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
