"""Independent check of a report's paired comparisons: no yololab import, only the run folders' raw files.

Reads every run's ``metrics.json`` and ``config.yaml`` (arm, seed), recomputes each comparison of
``results.json`` on a final metric (paired t-test with ``scipy.stats.ttest_rel``, 95% t interval) and each slope
trend (per seed, the least-squares slope over α times the range of α, then ``ttest_1samp``), applies Holm by hand
within every family whose members are all recomputed, and prints both side by side.

    python docs/head-probe-study/checks/paired_stats.py docs/head-probe-study/runs/mlp_depth2 \
        docs/head-probe-study/mlp_depth2/results.json
"""

import json
import pathlib
import sys

import numpy as np
import yaml
from scipy import stats


def read_runs(root: pathlib.Path) -> dict[tuple[str, int], dict]:
    runs = {}
    for path in root.rglob("metrics.json"):
        config = yaml.safe_load(path.with_name("config.yaml").read_text())
        runs[(str(config["arm"]), int(config["seed"]))] = json.loads(path.read_text())
    return runs


def summary(d: np.ndarray, p: float) -> dict:
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return {"n": len(d), "est": d.mean(), "lo": d.mean() - half, "hi": d.mean() + half, "p": p}


def recompute(c: dict, runs: dict) -> dict | None:
    metric = c["quantity"] if c["quantity"].startswith("val/") else f"val/{c['quantity']}"
    if c["kind"] == "trend":
        levels = c["level_values"]
        arms = ["relu" if v == 0 else f"leaky_relu:{v:g}" for v in levels]
        seeds = sorted({s for _, s in runs if all((a, s) in runs for a in arms)})
        if not seeds or metric not in runs[(arms[0], seeds[0])]:
            return None
        slopes = [np.polyfit(levels, [runs[(a, s)][metric] for a in arms], 1)[0] for s in seeds]
        d = np.array(slopes) * (max(levels) - min(levels))
        return summary(d, stats.ttest_1samp(d, 0.0).pvalue)
    seeds = sorted(s for a, s in runs if a == c["arm"] and (c["reference"], s) in runs)
    if not seeds or metric not in runs[(c["arm"], seeds[0])]:
        return None
    x = np.array([runs[(c["arm"], s)][metric] for s in seeds])
    y = np.array([runs[(c["reference"], s)][metric] for s in seeds])
    return summary(x - y, stats.ttest_rel(x, y).pvalue)


def holm(mine: dict, families: dict) -> None:
    for family in families.values():
        members = family["members"]
        if not all(m in mine for m in members):
            continue
        running = 0.0
        for i, m in enumerate(sorted(members, key=lambda m: mine[m]["p"])):
            running = max(running, min(1.0, (len(members) - i) * mine[m]["p"]))
            mine[m]["holm"] = running


def main(root: str, results: str) -> None:
    runs, res = read_runs(pathlib.Path(root)), json.loads(pathlib.Path(results).read_text())
    print(f"{len(runs)} runs read from {root}")
    mine = {cid: r for cid, c in res["comparisons"].items() if (r := recompute(c, runs)) is not None}
    holm(mine, res["families"])
    worst = 0.0
    for cid, v in mine.items():
        c = res["comparisons"][cid]
        gaps = [v["est"] - c["estimate"], v["lo"] - c["ci_low"], v["hi"] - c["ci_high"], v["p"] - c["p"]]
        if "holm" in v:
            gaps.append(v["holm"] - c["p_holm"])
        worst = max(worst, *map(abs, gaps))
        print(f"{cid}: n={v['n']} est {v['est']:+.5f} ({c['estimate']:+.5f}) "
              f"CI [{v['lo']:+.5f}, {v['hi']:+.5f}] ([{c['ci_low']:+.5f}, {c['ci_high']:+.5f}]) "
              f"p {v['p']:.4g} ({c['p']:.4g}) Holm {v.get('holm', float('nan')):.4g} ({c.get('p_holm')})")
    print(f"{len(mine)} comparisons recomputed; largest absolute difference from results.json: {worst:.2e}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
