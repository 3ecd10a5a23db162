"""The finished runs of a W&B sweep, read with ``wandb.Api()`` (needs W&B online: credentials and network).

A run's config is what training logged (the resolved config), its final metrics its summary, and its
history the rows that :func:`yololab.study.runs.summarise_rows` reads, as from ``csv/metrics.csv``. W&B
does not hold ``gradflow_layers.json``: the layers are ordered by name.
"""

from __future__ import annotations

import re

from yololab.study.runs import Run, StudyDataError, check_unique, make_run

SWEEP_ID = re.compile(r"^(?:[\w.-]+/){0,2}[a-z0-9]{8}$")


def is_sweep_id(text: str) -> bool:
    """``abcd1234``, ``project/abcd1234`` or ``entity/project/abcd1234``."""
    return bool(SWEEP_ID.match(text))


def load_sweep_runs(sweep_id: str) -> list[Run]:
    from yololab.utils.wandb import resolve_mode

    mode = resolve_mode("auto")
    if mode != "online":
        raise StudyDataError(f"W&B sweep {sweep_id!r}: reading a sweep needs W&B online (credentials and network), "
                             f"but W&B is {mode} here; point the report at the runs directory instead "
                             "(e.g. logs/sweeps/<sweep name>)")
    import wandb

    try:
        sweep = wandb.Api().sweep(sweep_id)
        finished = [r for r in sweep.runs if r.state == "finished"]
    except (wandb.errors.Error, ValueError) as err:
        raise StudyDataError(f"W&B sweep {sweep_id!r} not found: {err}") from None
    if not finished:
        raise StudyDataError(f"W&B sweep {sweep_id!r}: no finished runs")
    runs = [make_run(r.name, dict(r.config), dict(r.summary_metrics), r.scan_history(), where=f"W&B run {r.path}")
            for r in finished]
    check_unique(runs)
    return runs
