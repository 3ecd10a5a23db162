"""W&B: offline without credentials, never a prompt; a real offline run is written and closed."""

import wandb
from tests.conftest import compose_config

from yololab import train
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
        f"data.root={synthetic_root}", "data.num_workers=0", "logger=wandb", "trainer.max_epochs=1",
        "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "data.synthetic=null",
    ])
    train.run(cfg)
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0
    tables = list(runs[0].parent.glob("files/media/table/data/instances_[0-9]*.table.json"))  # DatasetStats
    assert len(tables) == 1 and '"crazing"' in tables[0].read_text()
    assert wandb.run is None  # closed, so a next run in this process starts clean
