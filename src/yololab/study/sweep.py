"""A W&B sweep file, planned without a server: checked against W&B's sweep schema, its points computed by
W&B's own sweep engine (the ``sweeps`` package), each point turned into the command ``wandb agent`` runs.

The agent builds a run's command in ``wandb/wandb_agent.py`` (``Agent._command_run``) from two helpers of
``wandb.sdk.launch.sweeps.utils``: ``create_sweep_command`` fills ``${envvar:NAME}`` macros and
``create_sweep_command_args`` renders the run's parameters in every argument format (``args``,
``args_no_hyphens``, ...); then ``${env}`` becomes ``/usr/bin/env`` (not on Windows), ``${interpreter}``
``python`` and ``${program}`` the sweep's program. :func:`agent_command` calls the same two helpers and
repeats that last substitution. The W&B server sends a run's parameters in alphabetical order, so the
arguments come in that order here too.
"""

from __future__ import annotations

import platform
import random
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_POINTS = 100_000  # a grid larger than this is not a study that runs locally
UNSUPPORTED_MACROS = ("${args_json_file}",)
# Hydra keys that move a run's folder (with paths.output_dir): the runner assigns each run its own
RUN_FOLDER_KEYS = ("hydra.run", "hydra.sweep", "hydra.runtime")


class SweepFileError(ValueError):
    """A sweep file that cannot be run locally; the message names the file and the key."""


@dataclass(frozen=True)
class PlannedRun:
    """One point of a sweep: its parameters, its folder, the command that trains it and that command's
    arguments after the program (what the run records in ``.hydra/overrides.yaml``)."""

    name: str
    params: dict[str, Any]
    command: list[str]
    overrides: list[str]
    run_dir: Path


def _sweeps():
    """W&B's sweep engine (the ``wandb[sweeps]`` extra), without the pydantic-v2 warning its import prints.
    Its search modules are imported here, before any seeding: importing them (scikit-learn) draws from
    Python's global generator, which the random method samples from."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import sweeps
        import sweeps.bayes_search
        import sweeps.grid_search
        import sweeps.random_search
    return sweeps


def load_sweep(path: str | Path) -> dict:
    """The sweep config of ``path``, validated by the ``sweeps`` schema and for what runs locally."""
    sweeps = _sweeps()
    path = Path(path)
    if not path.is_file():
        raise SweepFileError(f"sweep file not found: {path}")
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SweepFileError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(cfg, dict):
        raise SweepFileError(f"{path}: a sweep file is a mapping (program, method, parameters, ...)")
    problems = sweeps.schema_violations_from_proposed_config(cfg) + local_problems(cfg)
    if problems:
        raise SweepFileError(f"{path}: not a valid sweep:\n  - " + "\n  - ".join(problems))
    return cfg


def local_problems(cfg: dict) -> list[str]:
    """What the W&B schema allows but a local run of Hydra overrides cannot do."""
    problems = []
    if not cfg.get("program"):
        problems.append("program: missing (the training script, e.g. scripts/train.py)")
    if not cfg.get("command"):
        problems.append("command: missing: W&B's default command passes each parameter as --key=value, which a "
                        "Hydra script refuses; add command: [${env}, ${interpreter}, ${program}, ${args_no_hyphens}]")
    if cfg.get("method") in ("bayes", "custom"):
        problems.append(f"method: {cfg.get('method')!r} runs only on a W&B server (each point depends on the "
                        "results before it); locally: grid or random")
    for name, spec in (cfg.get("parameters") or {}).items():
        if moves_run_folder(str(name)):
            problems.append(f"parameters.{name}: the runner gives every run its own folder (--dir); a run folder "
                            "cannot be a parameter")
        if isinstance(spec, dict) and "parameters" in spec:
            problems.append(f"parameters.{name}: nested parameters do not parse as Hydra overrides; use flat "
                            f"dotted keys (e.g. {name}.key)")
    for arg in map(str, cfg.get("command") or []):
        if "=" in arg and moves_run_folder(arg.split("=", 1)[0]):
            problems.append(f"command: {arg!r}: the runner gives every run its own folder (--dir)")
    for macro in UNSUPPORTED_MACROS:
        if macro in map(str, cfg.get("command") or []):
            problems.append(f"command: {macro} is not supported by the local runner")
    return problems


def sweep_points(cfg: dict, count: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """The parameter values of each run, as W&B's engine computes them: every grid point in order (the
    first ``count`` with ``count``), or ``count`` random draws, the same for the same ``seed``."""
    sweeps = _sweeps()

    if cfg["method"] == "random" and not count:
        raise SweepFileError("method: random needs a number of runs (--count N)")
    state = random.getstate()  # the engine draws from Python's global generator
    random.seed(seed)
    try:
        runs = sweeps.next_runs(cfg, [], validate=True, n=count or MAX_POINTS)
    finally:
        random.setstate(state)
    return [{key: _plain(value["value"]) for key, value in run.config.items()} for run in runs if run is not None]


def _plain(value: Any) -> Any:
    """numpy scalars as Python values: the agent receives JSON from the server."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict)) else value


def agent_command(cfg: dict, params: dict[str, Any]) -> list[str]:
    """The command ``wandb agent`` runs for a run with ``params`` (see the module docstring)."""
    from wandb.sdk.launch.sweeps.utils import (
        DEFAULT_SWEEP_COMMAND,
        create_sweep_command,
        create_sweep_command_args,
    )

    command = create_sweep_command(list(cfg.get("command") or DEFAULT_SWEEP_COMMAND))
    macros: dict[str, Any] = create_sweep_command_args({"args": {k: {"value": params[k]} for k in sorted(params)}})
    macros["interpreter"] = ["python"]
    macros["program"] = [cfg["program"]]
    if platform.system() != "Windows":
        macros["env"] = ["/usr/bin/env"]
    expanded: list[str] = []
    for chunk in map(str, command):
        if chunk.startswith("${") and chunk.endswith("}"):
            expanded += macros.get(chunk[2:-1]) or []
        else:
            expanded.append(chunk)
    return expanded


def varying_keys(cfg: dict) -> list[str]:
    """The parameters that differ between runs (everything but ``value:`` constants), in file order."""
    return [name for name, spec in cfg["parameters"].items() if not (isinstance(spec, dict) and "value" in spec)]


def run_name(params: dict[str, Any], keys: list[str]) -> str:
    """A folder name from the varying parameters, e.g. ``experiment=study-relu,seed=0``."""
    text = ",".join(f"{key}={params[key]}" for key in keys) or "run"
    return re.sub(r"[^A-Za-z0-9._=,+-]", "-", text)


def moves_run_folder(key: str) -> bool:
    """Whether an override of ``key`` moves a run's folder away from the one the runner assigns."""
    key = key.lstrip("+~")
    return key == "paths.output_dir" or key.startswith(RUN_FOLDER_KEYS)


def check_extra_overrides(cfg: dict, extra: list[str]) -> None:
    """Forwarded overrides may not set a swept key, nor move the run folder the runner assigns."""
    swept = set(cfg["parameters"])
    for override in extra:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in swept:
            raise SweepFileError(f"override {override!r}: {key} is a parameter of the sweep; change it in the "
                                 "sweep file")
        if moves_run_folder(key):
            raise SweepFileError(f"override {override!r}: the runner gives every run its own folder (--dir)")


def with_constants(cfg: dict, overrides: list[str]) -> dict:
    """The sweep with ``key=value`` overrides added as constant parameters, so that ``wandb agent`` passes them
    to every run as the local runner does after ``--``."""
    check_extra_overrides(cfg, overrides)
    parameters = dict(cfg["parameters"])
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or key[:1] in "+~":
            raise SweepFileError(f"override {override!r}: only key=value overrides become sweep parameters")
        parameters[key] = {"value": yaml.safe_load(value) if value else ""}
    return {**cfg, "parameters": parameters}


def plan(cfg: dict, sweep_dir: Path, count: int | None = None, seed: int = 0,
         extra: list[str] = ()) -> list[PlannedRun]:
    """Every run of the sweep: the agent's command plus the forwarded ``extra`` overrides, and its folder."""
    check_extra_overrides(cfg, list(extra))
    keys = varying_keys(cfg)
    runs = []
    for params in sweep_points(cfg, count, seed):
        command = agent_command(cfg, params) + list(extra)
        after = command.index(cfg["program"]) + 1 if cfg["program"] in command else len(command)
        name = run_name(params, keys)
        runs.append(PlannedRun(name, params, command, command[after:], sweep_dir / name))
    names = [r.name for r in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SweepFileError(f"two runs would share the folder {duplicates[0]} (a random sweep drew the same point "
                             "twice?); use a grid or fewer runs")
    return runs
