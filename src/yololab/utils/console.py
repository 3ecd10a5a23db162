"""A console a person can read: every line once, and none that only a library's developers want.

Called by the entry points once Hydra has set up logging (its console and ``<task_name>.log``
handlers on the root logger), so the console and the log file hold the same lines.
"""

from __future__ import annotations

import logging
import warnings

# Warnings about choices yololab makes on purpose, or about library internals a user cannot change.
IGNORED_WARNINGS = (
    # Lightning's _pytree under torch >= 2.10: Lightning's own code, nothing in a run changes it
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # the module's on_after_batch_transfer (uint8 -> float on the device) is meant to serve every datamodule
    r"You have overridden `on_after_batch_transfer` in `LightningModule` but have passed in a `LightningDataModule`",
)
# Log lines that advertise rather than inform
IGNORED_LINES = ("try installing [litlogger]",)


def readable_console() -> None:
    """Leave every line to the root logger's handlers, once; drop the advertisements and the noise warnings;
    send the remaining warnings through logging, so they reach the log file as well as the console."""
    if not logging.getLogger().handlers:  # nobody set up logging: leave Lightning's own console handler
        return
    import lightning  # noqa: F401  (its loggers get their handlers when it is imported)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        # Lightning gives its loggers a console handler of their own ("INFO: ..."), and their records also
        # reach the root handlers: every line came twice
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
            logger.removeHandler(handler)
        logger.propagate = True
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(informative)
    for pattern in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    warnings.showwarning = log_warning


def log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one log record (``logging.captureWarnings`` would end each with an empty line)."""
    text = warnings.formatwarning(message, category, filename, lineno, line).rstrip()
    logging.getLogger("py.warnings").warning("%s", text)


def informative(record: logging.LogRecord) -> bool:
    return not any(text in record.getMessage() for text in IGNORED_LINES)
