"""Independent check of ``scripts/interaction.py --json``: no yololab import, only the run folders' raw files.

Per arm A and seed s, the effect (A - relu) in study X and in study Y, then their difference over the seeds both
studies ran: ``scipy.stats.ttest_1samp``, the 95% t interval, Holm over the arms by hand. The measure is the
JSON's: a final metric from ``metrics.json`` (in points, times 100) or ``vanishing``, the backward-signal ratio
recomputed from ``csv/metrics.csv`` by ``backward_signal.py`` beside this file.

    python scripts/interaction.py X Y --json > interaction.json
    python docs/head-probe-study/checks/interaction_stats.py X Y interaction.json
"""

import json
import pathlib
import sys

import numpy as np
import yaml
from scipy import stats

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from backward_signal import run_ratio  # this folder's own check, not yololab


def read(root: str, measure: str) -> dict[tuple[str, int], float]:
    values = {}
    for path in pathlib.Path(root).rglob("metrics.json"):
        config = yaml.safe_load(path.with_name("config.yaml").read_text())
        if measure == "vanishing":
            value = run_ratio(path.parent / "csv" / "metrics.csv")
        else:
            value = 100 * json.loads(path.read_text())[measure]
        values[(str(config["arm"]), int(config["seed"]))] = value
    return values


def effects(values: dict, arm: str, reference: str) -> dict[int, float]:
    return {s: v - values[(reference, s)] for (a, s), v in values.items() if a == arm and (reference, s) in values}


def main(x_root: str, y_root: str, table: str) -> None:
    given = json.loads(pathlib.Path(table).read_text())
    x, y = read(x_root, given["measure"]), read(y_root, given["measure"])
    mine = {}
    for row in given["arms"]:
        ex, ey = effects(x, row["arm"], given["reference"]), effects(y, row["arm"], given["reference"])
        seeds = sorted(set(ex) & set(ey))
        d = np.array([ex[s] - ey[s] for s in seeds])
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        mine[row["arm"]] = {"n": len(d), "effect_x": np.mean([ex[s] for s in seeds]),
                            "effect_y": np.mean([ey[s] for s in seeds]), "interaction": d.mean(),
                            "ci_low": d.mean() - half, "ci_high": d.mean() + half,
                            "p": stats.ttest_1samp(d, 0.0).pvalue}
    running = 0.0  # Holm: the k-th smallest p times (m - k + 1), made monotone
    for i, arm in enumerate(sorted(mine, key=lambda a: mine[a]["p"])):
        running = max(running, min(1.0, (len(mine) - i) * mine[arm]["p"]))
        mine[arm]["p_holm"] = running
    worst = 0.0
    for row in given["arms"]:
        m = mine[row["arm"]]
        assert m["n"] == row["n"], (row["arm"], m["n"], row["n"])
        gaps = [abs(m[k] - row[k]) for k in ("effect_x", "effect_y", "interaction", "ci_low", "ci_high", "p", "p_holm")]
        worst = max(worst, *gaps)
        print(f"{row['arm']}: n={m['n']} effect X {m['effect_x']:+.5f} Y {m['effect_y']:+.5f} "
              f"interaction {m['interaction']:+.5f} [{m['ci_low']:+.5f}, {m['ci_high']:+.5f}] p {m['p']:.4g} "
              f"Holm {m['p_holm']:.4g}  (given: {row['interaction']:+.5f}, p {row['p']:.4g}, Holm {row['p_holm']:.4g})")
    print(f"{given['measure']}: {len(mine)} arms recomputed from {len(x)} + {len(y)} runs; "
          f"largest absolute difference from {table}: {worst:.2e}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
