"""W&B: offline without credentials, never a prompt; a real offline run is written, closed and read back."""

import json
import re
import subprocess
import sys

import hydra
import pytest
import wandb
from tests.conftest import compose_config

from yololab.callbacks.gradient_flow import select_layers
from yololab.data.synthetic import CLASS_NAMES
from yololab.tasks import train
from yololab.utils.wandb import resolve_mode


def test_mode_follows_credentials(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert resolve_mode("auto") == "offline"
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "x" * 40 + "\n")
    assert resolve_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode("auto") == "disabled"


def test_training_writes_an_offline_run(tmp_path, synthetic_root, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    cfg = compose_config(tmp_path, [
        f"data.root={synthetic_root}", "data.loader.num_workers=0", "logger=wandb", "trainer.max_epochs=1",
        "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "data.synthetic=null",
    ])
    train.run(cfg)
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0
    tables = list(runs[0].parent.glob("files/media/table/data/instances_[0-9]*.table.json"))  # DatasetStats
    assert len(tables) == 1 and '"crazing"' in tables[0].read_text()
    assert wandb.run is None  # closed, so a next run in this process starts clean

    history = read_history(runs[0])
    assert "val/mAP50" in history and "val/mAP50-95" in history
    assert {f"val/AP50/{name}" for name in CLASS_NAMES} & history.keys()
    head_layers = [layer.name for layer in select_layers(hydra.utils.instantiate(cfg.model, class_names=CLASS_NAMES),
                                                         re.compile(r"^model\.head\."))]
    assert len(head_layers) == 18  # 3 levels x 2 branches x (2 conv blocks + the linear output)
    for name in head_layers:
        hist = history[f"gradflow/hist/grad/{name}"]
        assert hist["_type"] == "histogram" and sum(hist["values"]) > 0, name
        assert f"gradflow/grad_norm/{name}" in history


def read_history(path) -> dict:
    """Every key logged to W&B history, read back from the run's .wandb record log with W&B's own reader
    (``wandb leet inspect --json``); nested values such as histograms are rebuilt from their dotted keys."""
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    history: dict = {}
    for line in out.splitlines():
        record = json.loads(line)
        if record.get("type") != "history":
            continue
        for key, value in record["history"]["item"].items():
            head, _, leaf = key.rpartition(".")
            if leaf in ("_type", "values", "bins") and head:
                history.setdefault(head, {})[leaf] = value
            else:
                history[key] = value
    return history


def test_a_resumed_run_continues_the_same_wandb_run(tmp_path, synthetic_root, monkeypatch):
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    monkeypatch.setenv("WANDB_MODE", "offline")
    overrides = [f"data.root={synthetic_root}", "data.loader.num_workers=0", "data.synthetic=null", "logger=wandb",
                 "trainer.max_epochs=1", "trainer.limit_val_batches=1", "callbacks.gradient_flow=null",
                 "callbacks.validation_report=null"]
    kill = ["+callbacks.kill._target_=tests.helpers.SignalAtStep", "+callbacks.kill.step=1"]
    with pytest.raises(SIGTERMException):
        train.run(compose_config(tmp_path, [*overrides, *kill]))
    train.run(compose_config(tmp_path, [*overrides, "ckpt_path=last"]))
    runs = sorted((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and len({r.name.rsplit("-", 1)[1] for r in runs}) == 1  # two sessions, one run id


def test_an_unreachable_server_gives_an_offline_run_within_seconds(tmp_path, monkeypatch, caplog):
    """Online with a key but no server: wandb alone retried for about 95 s, then failed with a CommError."""
    import logging
    import socket
    import time

    from yololab.utils.wandb import finish_wandb, wandb_logger

    with socket.socket() as probe:  # a port nobody listens on: bound, never listened to, closed with the test
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        monkeypatch.delenv("WANDB_MODE", raising=False)
        monkeypatch.setenv("WANDB_API_KEY", "0123456789abcdef" * 2 + "01234567")  # 40 characters, as a real key
        monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
        caplog.set_level(logging.INFO, logger="yololab.utils.wandb")
        start = time.monotonic()
        logger = wandb_logger(mode="online", save_dir=str(tmp_path), project="unreachable")
        decided = time.monotonic() - start
        logger.experiment.log({"x": 1.0})
        finish_wandb()
        total = time.monotonic() - start
    assert decided < 6, decided
    assert total < 60, total  # wandb's own offline start is the rest (seconds; minutes on a loaded machine)
    assert f"W&B: the server cannot be reached (http://127.0.0.1:{port}: Connection refused): logging offline " \
           f"under {tmp_path} instead" in caplog.text
    runs = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and read_history(runs[0])["x"] == 1.0
