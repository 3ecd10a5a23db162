"""The gradient-flow monitor on constructed networks with known answers, and under mixed precision."""

import csv
import os
import subprocess
import sys

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.precision import MixedPrecision
from tests import gradflow_toys
from tests.conftest import REPO
from torch import nn

from yololab.callbacks.gradient_flow import GradientFlowMonitor
from yololab.nn.blocks import ConvNormAct

DEAD = 37  # of 200 units


class ToyModule(L.LightningModule):
    """model.head.0 is a ReLU-family layer whose units [0, DEAD) can never be positive."""

    def __init__(self, activation: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model = nn.Module()
        self.model.head = nn.Sequential(ConvNormAct(16, 200, 1, activation=activation, norm="none"),
                                        nn.Conv2d(200, 1, 1))
        conv = self.model.head[0].weight_layer
        with torch.no_grad():
            conv.weight[:DEAD] = 0.0
            conv.bias.zero_()
            conv.bias[:DEAD] = -1.0

    def training_step(self, batch, batch_idx):
        return self.model.head(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-3)

    def train_dataloader(self):
        torch.manual_seed(1)
        data = torch.utils.data.TensorDataset(torch.randn(32, 16, 4, 4))
        return torch.utils.data.DataLoader(data, batch_size=16)


def run_monitor(tmp_path, activation: str, **trainer_kwargs) -> dict[str, float]:
    trainer = L.Trainer(
        accelerator="cpu", max_steps=1, logger=CSVLogger(tmp_path, name="", version=""), enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[GradientFlowMonitor(log_every_n_steps=1)],
        default_root_dir=tmp_path, **trainer_kwargs,
    )
    trainer.fit(ToyModule(activation))
    with open(tmp_path / "metrics.csv") as f:
        row = next(r for r in csv.DictReader(f) if r.get("gradflow/grad_norm/head.0"))
    return {k: float(v) for k, v in row.items() if v}


def test_dead_relu_units_are_counted(tmp_path):
    values = run_monitor(tmp_path, "relu")
    assert values["gradflow/dead_fraction/head.0"] == pytest.approx(DEAD / 200, abs=0.01)
    assert values["gradflow/negative_fraction/head.0"] > DEAD / 200
    assert values["gradflow/grad_norm/head.0"] > 0 and values["gradflow/update_ratio/head.0"] > 0
    assert "gradflow/grad_norm/head.1" in values and "gradflow/dead_fraction/head.1" not in values  # linear output


def test_leaky_relu_units_never_die(tmp_path):
    values = run_monitor(tmp_path, "leaky_relu:0.01")
    assert values["gradflow/dead_fraction/head.0"] == 0.0
    assert values["gradflow/mean_abs_derivative/head.0"] > 0.01


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_gradients_are_read_unscaled_under_mixed_precision(tmp_path, precision):
    reference = run_monitor(tmp_path / "fp32", "relu")
    kwargs = {"precision": precision}
    if precision == "16-mixed":  # an explicit loss scaler: gradients are 1024x larger until unscaled
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
        kwargs = {"plugins": [MixedPrecision("16-mixed", "cpu", scaler=scaler)]}
    mixed = run_monitor(tmp_path / precision, "relu", **kwargs)
    assert mixed["gradflow/grad_norm/head.1"] == pytest.approx(reference["gradflow/grad_norm/head.1"], rel=0.05)
    for layer in ("head.0", "head.1"):  # the backward signal too is read unscaled
        key = f"gradflow/input_grad_norm/{layer}"
        assert mixed[key] == pytest.approx(reference[key], rel=0.05)


def test_nothing_is_hooked_between_logging_steps(tmp_path):
    monitor = GradientFlowMonitor(log_every_n_steps=3)
    module = ToyModule("relu")
    trainer = L.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[monitor],
                        default_root_dir=tmp_path)
    trainer.fit(module)
    activation = module.model.head[0].activation
    assert not monitor._hooks and not activation._forward_hooks


def monitor_rows(path) -> list[dict[str, float]]:
    with open(path) as f:
        rows = [{k: float(v) for k, v in r.items() if v} for r in csv.DictReader(f)]
    return [r for r in rows if any(k.startswith("gradflow/") for k in r)]


def test_rows_are_labelled_with_their_own_step(tmp_path):
    """The first optimiser step is step 0, as Lightning labels what a training step logs (was: one late)."""
    rows = monitor_rows(gradflow_toys.fit(tmp_path, [[False] * 8], batch_size=4, max_steps=2))
    assert [r["step"] for r in rows] == [0, 1]


def test_accumulated_micro_batches_make_one_row_per_optimiser_step(tmp_path):
    """Two micro-batches per step: the first has channel 1 negative throughout, the second not, so the step's
    batch has one dead channel of three and half its inputs negative."""
    negative = [i % 4 < 2 for i in range(8)]
    rows = monitor_rows(gradflow_toys.fit(tmp_path, [negative], batch_size=2, max_steps=2,
                                          accumulate_grad_batches=2))
    assert [r["step"] for r in rows] == [0, 1]
    for row in rows:
        assert row["gradflow/dead_fraction/head.0"] == pytest.approx(1 / 3)
        assert row["gradflow/negative_fraction/head.0"] == pytest.approx(1 / 2)
        assert row["gradflow/mean_abs_derivative/head.0"] == pytest.approx(1 / 2)
        assert "gradflow/grad_norm/head.0" in row


def test_the_backward_signal_of_accumulated_micro_batches_is_the_whole_steps(tmp_path):
    """Two micro-batches of 2 give the gradient of the step's loss (their mean): what plain autograd gives for
    those 4 samples, as for one batch of 4. Layer 0's input is the data (no gradient asked): the monitor asks."""
    negative = [i % 4 < 2 for i in range(8)]
    for name, batch_size, accumulate in (("accumulated", 2, 2), ("whole", 4, 1)):
        row = monitor_rows(gradflow_toys.fit(tmp_path / name, [negative], batch_size=batch_size, max_steps=1,
                                             accumulate_grad_batches=accumulate))[0]
        expected = gradflow_toys.reference_signal(torch.load(tmp_path / name / "head.pt"),
                                                  gradflow_toys.inputs(negative)[:4])
        signal = [row["gradflow/input_grad_norm/head.0"], row["gradflow/input_grad_norm/head.1"]]
        assert signal == pytest.approx(expected, rel=1e-5), name


class TwoBranchToy(L.LightningModule):
    """A trainable trunk whose map feeds two branches (as a pyramid level feeds box and class): each branch's
    first layer gets its own share of the gradient, the trunk gets their sum."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model = nn.Module()
        self.model.trunk = nn.Conv2d(4, 6, 1)
        self.model.head = TwoBranchHead()

    def training_step(self, batch, batch_idx):
        return sum(y.pow(2).mean() for y in self.model.head([self.model.trunk(batch[0])]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)

    def train_dataloader(self):
        torch.manual_seed(1)
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 4, 3, 3)), batch_size=8)


class TwoBranchHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.box = nn.Sequential(ConvNormAct(6, 5, 1, activation="leaky_relu:0.1", norm="none"), nn.Conv2d(5, 2, 1))
        self.cls = nn.Sequential(ConvNormAct(6, 5, 1, activation="elu", norm="none"), nn.Conv2d(5, 3, 1))

    def forward(self, feats):
        return [self.box(feats[0]), 3.0 * self.cls(feats[0])]


def test_each_branch_gets_its_share_of_the_signal_and_the_trunk_their_sum(tmp_path):
    module = TwoBranchToy()
    trainer = L.Trainer(accelerator="cpu", max_steps=1, logger=CSVLogger(tmp_path, name="", version=""),
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[GradientFlowMonitor(log_every_n_steps=1, histograms=False)],
                        default_root_dir=tmp_path)
    trainer.fit(module)
    (row,) = monitor_rows(tmp_path / "metrics.csv")
    # the reference: plain autograd on the same weights (lr 0) and data, every intermediate map a leaf of its own
    (x,) = next(iter(module.train_dataloader()))
    head = module.model.head
    feat = module.model.trunk(x)
    box_in, cls_in = feat.detach().requires_grad_(True), feat.detach().requires_grad_(True)
    box_hidden = head.box[0](box_in).detach().requires_grad_(True)
    cls_hidden = head.cls[0](cls_in).detach().requires_grad_(True)
    loss_box, loss_cls = head.box[1](box_hidden).pow(2).mean(), (3.0 * head.cls[1](cls_hidden)).pow(2).mean()
    (g_box_hidden,) = torch.autograd.grad(loss_box, box_hidden)
    (g_cls_hidden,) = torch.autograd.grad(loss_cls, cls_hidden)
    (g_box_in,) = torch.autograd.grad(head.box[0](box_in), box_in, g_box_hidden)
    (g_cls_in,) = torch.autograd.grad(head.cls[0](cls_in), cls_in, g_cls_hidden)
    expected = {"input_grad_norm/head.box.0": g_box_in.norm(), "input_grad_norm/head.box.1": g_box_hidden.norm(),
                "input_grad_norm/head.cls.0": g_cls_in.norm(), "input_grad_norm/head.cls.1": g_cls_hidden.norm(),
                "trunk_grad_norm/level0": (g_box_in + g_cls_in).norm()}
    for key, value in expected.items():
        assert row[f"gradflow/{key}"] == pytest.approx(value.item(), rel=1e-5), key
    assert g_box_in.norm() != pytest.approx((g_box_in + g_cls_in).norm().item(), rel=1e-2)  # the shares differ


def test_ddp_statistics_cover_every_rank(tmp_path):
    """Rank 0's shard alone has 2 dead channels of 3; the whole batch has 1."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "tests.gradflow_toys", str(tmp_path)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = monitor_rows(tmp_path / "metrics.csv")
    assert row["step"] == 0
    # the backward signal of the loss DDP steps with (the mean of the ranks' losses): all 8 samples' mean
    samples = torch.cat([gradflow_toys.inputs([True] * 4), gradflow_toys.inputs([False] * 4)])
    expected = gradflow_toys.reference_signal(torch.load(tmp_path / "head.pt"), samples)
    assert [row["gradflow/input_grad_norm/head.0"], row["gradflow/input_grad_norm/head.1"]] == pytest.approx(
        expected, rel=1e-5)
    assert row["gradflow/dead_fraction/head.0"] == pytest.approx(1 / 3)
    assert row["gradflow/negative_fraction/head.0"] == pytest.approx(1 / 2)
    assert row["gradflow/mean_abs_derivative/head.0"] == pytest.approx(1 / 2)


class TwoPathToy(ToyModule):
    """``model.head.2`` is in the graph, but no loss term reaches it: its gradient is exactly zero (as a pyramid
    level's box branch is when the level has no positive anchor)."""

    def __init__(self) -> None:
        super().__init__("relu")
        self.model.head.append(nn.Conv2d(16, 1, 1))

    def training_step(self, batch, batch_idx):
        x = batch[0]
        return self.model.head[:2](x).pow(2).mean() + 0.0 * self.model.head[2](x).sum()


def test_a_layer_with_an_exactly_zero_gradient_gets_no_norm(tmp_path):
    """Its norm would enter every average over layers and paths as a path that 'vanished'; it is left out and
    counted instead. Its update ratio is still logged (weight decay or momentum can move its weights)."""
    trainer = L.Trainer(
        accelerator="cpu", max_steps=1, logger=CSVLogger(tmp_path, name="", version=""), enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
        callbacks=[GradientFlowMonitor(log_every_n_steps=1, histograms=False)], default_root_dir=tmp_path,
    )
    module = TwoPathToy()
    trainer.fit(module)
    (row,) = monitor_rows(tmp_path / "metrics.csv")
    assert row["gradflow/grad_norm/head.0"] > 0 and row["gradflow/grad_norm/head.1"] > 0
    assert "gradflow/grad_norm/head.2" not in row and "gradflow/update_ratio/head.2" in row
    assert row["gradflow/zero_grad_layers"] == 1
    assert not module.model.head[2].weight.grad.any()  # the premise: exactly zero, not merely small


def test_histogram_samples_of_a_tensor_past_float32s_exact_integers_stay_in_bounds():
    """2**24 + 4 elements: float32 positions round the last one to 2**24 + 4, one past the end (the H200 check's
    device assert at 640 px, batch 32). The samples are the hand-computed i * (N - 1) // (n - 1)."""
    from yololab.callbacks.gradient_flow import tally

    n_elements = 2**24 + 4
    pre = torch.arange(n_elements, dtype=torch.float64).view(1, 1, -1) - 2**23  # [B, C, L], half negative
    result = tally(nn.ReLU(), pre, keep=5)
    positions = [i * (n_elements - 1) // 4 for i in range(5)]  # 0, 4194304, 8388609, 12582914, 16777219
    assert result.pre.tolist() == [float(p - 2**23) for p in positions]
    assert result.post.tolist() == [max(float(p - 2**23), 0.0) for p in positions]
