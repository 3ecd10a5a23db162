"""The config values checked when a command starts: each key's rule, in one table.

Every entry point (``cli.py``) checks the composed config against :data:`RULES` before its task runs, so a
wrong value stops before the data scan and before torch loads, with one message naming the key, the value and
what is valid (not a trace from deep inside a DataLoader, Lightning or Hydra's instantiation). The objects that
take these values check them again with :func:`check` where they are built outside a command (tests, notebooks).
Only omegaconf is imported here (and the torch-free format registry, when ``data.format`` is checked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Lightning's ``precision`` values (lightning.fabric.plugins.precision.precision), then their short forms
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "transformer-engine",
              "transformer-engine-float16")
SHORT_PRECISIONS = ("32", "16", "bf16", "64", 32, 16, 64)


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(low: int, high: int | None = None, null: bool = False) -> Callable[[Any], bool]:
    """An integer in ``[low, high]`` (no upper bound without ``high``); None too with ``null``."""
    return lambda v: (null and v is None) or (is_integer(v) and v >= low and (high is None or v <= high))


@dataclass(frozen=True)
class Rule:
    valid: Callable[[Any], bool]
    expected: str | Callable[[], str]  # what a valid value is, in the message (a callable: read when it fails)


def known_format(value) -> bool:
    """A ``data.format`` yololab or an imported fork module registered (read at check time: ``imports=`` has run)."""
    from yololab.data.formats import FORMATS

    return value == "auto" or value in FORMATS


def format_choices() -> str:
    from yololab.data.formats import valid_formats

    return f"one of {valid_formats()} (a fork's format: imports=[the module calling register_format])"


RULES: dict[str, Rule] = {
    "seed": Rule(integer(0, 2**32 - 1), "the seed must be an integer in [0, 4294967295]"),
    "threads": Rule(integer(1, null=True), "give a positive number of CPU threads, or null for one per core"),
    "numerics": Rule(lambda v: v in ("native", "portable"),
                     "native (the fastest kernels of this CPU) or portable (the same kernels on every CPU with AVX2)"),
    "data.img_size": Rule(lambda v: integer(32)(v) and v % 32 == 0,
                          "the image size must be an integer multiple of 32 (32, 64, ..., 640)"),
    "data.batch_size": Rule(integer(1), "the batch size (per device) must be an integer >= 1"),
    "data.loader.num_workers": Rule(integer(0), "the loader's worker processes: an integer >= 0 (0: load in the "
                                    "main process)"),
    "data.close_mosaic": Rule(integer(0), "the last epochs without mosaic and mixup: an integer >= 0"),
    "data.loader.worker_nice": Rule(integer(0), "the loader workers' nice increment: an integer >= 0 (a lower "
                                    "priority)"),
    "data.format": Rule(known_format, format_choices),
    "data.cache.ram": Rule(lambda v: isinstance(v, bool), "true or false"),
    "trainer.max_epochs": Rule(integer(-1, null=True), "an integer >= 0, -1 for no limit, or null (Lightning's "
                               "default)"),
    "trainer.min_epochs": Rule(integer(0, null=True), "an integer >= 0, or null"),
    "trainer.precision": Rule(lambda v: type(v) in (str, int) and v in PRECISIONS + SHORT_PRECISIONS,
                              f"one of {', '.join(PRECISIONS)} (or 32, 16, bf16, 64)"),
}


def check(key: str, value) -> None:
    """Stop on a value of ``key`` its rule refuses."""
    rule = RULES[key]
    if not rule.valid(value):
        expected = rule.expected() if callable(rule.expected) else rule.expected
        raise ValueError(f"{key}={value!r}: {expected}")


def check_settings(cfg: DictConfig) -> None:
    """Every key of :data:`RULES` that ``cfg`` sets. A task's config lacks some keys, and null there means
    "from elsewhere" (eval's ``data.img_size: null`` keeps the checkpoint's): the object built checks that."""
    for key in RULES:
        value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
        if value is not None:
            check(key, value)
