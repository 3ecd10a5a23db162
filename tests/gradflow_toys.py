"""A network whose activation statistics are known for any subset of its data, for the gradient-flow monitor
under gradient accumulation and DDP. ``python -m tests.gradflow_toys OUT`` trains it for one step on two CPU
processes (DDP over gloo) and writes the monitor's rows to ``OUT/metrics.csv``.

``model.head.0`` passes its 3 input channels through unchanged into a ReLU: channel 0 is always positive,
channel 2 always negative (dead for every batch), channel 1 negative exactly in the samples ``negative``
marks. So a batch's dead fraction is 2/3 if all its samples have channel 1 negative, else 1/3, and its
negative fraction is (its samples with channel 1 negative + its samples) / (3 x its samples).
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from yololab.callbacks.gradient_flow import GradientFlowMonitor
from yololab.nn.blocks import ConvNormAct


def inputs(negative: list[bool]) -> torch.Tensor:
    rows = [[1.0 + 0.1 * i, -1.0 - 0.1 * i if neg else 1.0 + 0.1 * i, -1.0 - 0.1 * i]
            for i, neg in enumerate(negative)]
    return torch.tensor(rows).view(len(negative), 3, 1, 1)


class ChannelToy(L.LightningModule):
    """``shards[r]``: the ``negative`` marks of rank r's samples (the trainer's sampler is not used)."""

    def __init__(self, shards: list[list[bool]], batch_size: int) -> None:
        super().__init__()
        self.shards, self.batch_size = shards, batch_size
        self.model = nn.Module()
        self.model.head = nn.Sequential(ConvNormAct(3, 3, 1, activation="relu", norm="none"), nn.Conv2d(3, 1, 1))
        with torch.no_grad():
            self.model.head[0].weight_layer.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.model.head[0].weight_layer.bias.zero_()

    def training_step(self, batch, batch_idx):
        return self.model.head(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)  # the statistics stay those of the data above

    def train_dataloader(self):
        data = torch.utils.data.TensorDataset(inputs(self.shards[self.global_rank]))
        return torch.utils.data.DataLoader(data, batch_size=self.batch_size, shuffle=False)


def fit(out: Path, shards: list[list[bool]], batch_size: int, max_steps: int, **trainer_kwargs) -> Path:
    trainer = L.Trainer(
        accelerator="cpu", max_steps=max_steps, logger=CSVLogger(out, name="", version=""),
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[GradientFlowMonitor(log_every_n_steps=1, histograms=False)], default_root_dir=out,
        use_distributed_sampler=False, **trainer_kwargs,
    )
    module = ChannelToy(shards, batch_size)
    trainer.fit(module)
    if trainer.is_global_zero:  # the weights the step saw (lr 0): for a reference computed apart from the monitor
        torch.save(module.model.head.state_dict(), out / "head.pt")
    return out / "metrics.csv"


def reference_signal(head_state: dict, samples: torch.Tensor) -> list[float]:
    """Plain autograd: the norms of the gradient of the mean of head(x)^2 over ``samples`` with respect to the
    input of each of the head's two weight layers."""
    conv0, conv1 = nn.Conv2d(3, 3, 1), nn.Conv2d(3, 1, 1)
    conv0.weight.data, conv0.bias.data = head_state["0.0.weight"], head_state["0.0.bias"]
    conv1.weight.data, conv1.bias.data = head_state["1.weight"], head_state["1.bias"]
    x = samples.clone().requires_grad_(True)
    hidden = torch.relu(conv0(x))
    loss = conv1(hidden).pow(2).mean()
    return [g.norm().item() for g in torch.autograd.grad(loss, [x, hidden])]


if __name__ == "__main__":  # DDP: rank 0's samples all have channel 1 negative, rank 1's none
    fit(Path(sys.argv[1]), [[True] * 4, [False] * 4], batch_size=4, max_steps=1, strategy="ddp", devices=2)
