"""The private Lightning and torchmetrics API that ``yololab.utils.private_api`` relies on: the names and
signatures, and each adapter exercised once for real. A failure here after an upgrade names the adapter to
revisit (see its docstring for why it exists)."""

import csv
import inspect

import lightning as L
import pytest
import torch
import torch.distributed as dist
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loops.fit_loop import _FitLoop
from torch import nn
from torch.utils.data import Dataset
from torchmetrics import Metric

from yololab.data.sampler import ReproducibleSampler, ResumableDataLoader
from yololab.metrics import build_map_metric
from yololab.utils import private_api
from yololab.utils.csv_logger import AppendingCSVLogger


@pytest.mark.parametrize(("owner", "name", "params"), [
    (Metric, "_sync_dist", ["self", "dist_sync_fn", "process_group"]),
    (ExperimentWriter, "_check_log_dir_exists", ["self"]),
    (_FitLoop, "_load_combined_loader_states", ["self"]),
])
def test_overridden_or_called_private_methods_keep_their_signatures(owner, name, params):
    assert list(inspect.signature(getattr(owner, name)).parameters) == params


def cpu_trainer(**kwargs) -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                     use_distributed_sampler=False, **kwargs)


def test_stop_as_on_sigterm_sets_the_flag_lightning_reads():
    trainer = cpu_trainer()
    assert not trainer.received_sigterm
    private_api.stop_as_on_sigterm(trainer)
    assert trainer.received_sigterm


def test_cluster_environment_is_the_one_lightning_signals_read():
    trainer = cpu_trainer(plugins=[SLURMEnvironment(auto_requeue=True)])
    assert private_api.cluster_environment(trainer).auto_requeue
    assert not hasattr(trainer.strategy, "cluster_environment")  # else the public attribute would do


class Items(Dataset):
    """Item i is the number i; keys are the sampler's (epoch, index)."""

    def __len__(self) -> int:
        return 12

    def __getitem__(self, key) -> torch.Tensor:
        return torch.tensor([float(key[1])])


class Recorder(L.LightningModule):
    """Records the items it trains on; sizes its schedule from the loader, as yololab's module does."""

    def __init__(self) -> None:
        super().__init__()
        self.layer, self.seen = nn.Linear(1, 1), []

    def training_step(self, batch, batch_idx):
        self.seen += batch.view(-1).int().tolist()
        return self.layer(batch).sum()

    def configure_optimizers(self):
        assert self.trainer.estimated_stepping_batches > 0  # builds the loader before the checkpoint is read
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        return ResumableDataLoader(Items(), batch_size=2, sampler=ReproducibleSampler(len(Items()), shuffle=False))


class SaveAtStep(L.Callback):
    def __init__(self, path, step: int) -> None:
        self.path, self.step = path, step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            trainer.save_checkpoint(self.path)


class RestorePosition(L.Callback):
    def on_train_start(self, trainer, pl_module) -> None:
        private_api.restore_train_loader_position(trainer)


def resumed_items(tmp_path, callbacks: list) -> list[int]:
    ckpt = tmp_path / "mid.ckpt"
    if not ckpt.exists():
        cpu_trainer(max_epochs=1, callbacks=[SaveAtStep(ckpt, 3)]).fit(Recorder())
    model = Recorder()
    cpu_trainer(max_epochs=1, callbacks=callbacks).fit(model, ckpt_path=ckpt)
    return model.seen


def test_restore_train_loader_position_resumes_mid_epoch(tmp_path):
    assert resumed_items(tmp_path, [RestorePosition()]) == list(range(6, 12))  # batches 3 to 5
    assert resumed_items(tmp_path, []) != list(range(6, 12))  # why the adapter exists


def test_whole_state_sync_gathers_in_image_order(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        metric = build_map_metric()
        for image_id, count in ((5, 1), (2, 3)):
            box = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * count)
            metric.update([{"boxes": box, "scores": torch.ones(count), "labels": torch.zeros(count).long()}],
                          [{"boxes": box, "labels": torch.zeros(count).long()}], image_ids=torch.tensor([image_id]))
        metric.sync(distributed_available=lambda: True)
        assert [int(i) for i in metric.image_ids] == [2, 5]
        assert [len(labels) for labels in metric.groundtruth_labels] == [3, 1]
        metric.unsync()
        assert [int(i) for i in metric.image_ids] == [5, 2]
    finally:
        dist.destroy_process_group()


def test_the_csv_writer_keeps_and_continues_an_existing_file(tmp_path):
    log_dir = tmp_path / "csv"
    log_dir.mkdir()
    (log_dir / "metrics.csv").write_text("loss,step\n0.5,0\n")
    logger = AppendingCSVLogger(tmp_path, name="", version="csv")
    assert isinstance(logger.experiment, private_api.KeepingExperimentWriter)
    assert logger.experiment.metrics_keys == ["loss", "step"]
    logger.log_metrics({"loss": 0.25}, step=1)
    logger.finalize("success")
    with open(log_dir / "metrics.csv", newline="") as f:
        assert list(csv.DictReader(f)) == [{"loss": "0.5", "step": "0"}, {"loss": "0.25", "step": "1"}]


def test_an_unset_wandb_anonymous_is_dropped(tmp_path):
    logger = WandbLogger(save_dir=str(tmp_path), offline=True)
    assert logger._wandb_init["anonymous"] is None
    private_api.drop_unset_wandb_anonymous(logger)
    assert "anonymous" not in logger._wandb_init
    asked = WandbLogger(save_dir=str(tmp_path), offline=True, anonymous=True)
    private_api.drop_unset_wandb_anonymous(asked)
    assert asked._wandb_init["anonymous"] == "allow"
