"""Layer-by-layer gradient and activation diagnostics for the study of head activations.

On logging steps only, for every weight layer whose name matches ``layers``, the monitor records:

- ``gradflow/grad_norm/<layer>``: L2 norm of the weight gradient, read in ``on_before_optimizer_step``,
  after AMP unscaling and before clipping. A layer whose gradient is exactly zero in the step (a path no loss
  term reached, such as a pyramid level with no positive anchor) gets no norm that step, so that averages over
  steps and paths cover only the paths that received a gradient; ``gradflow/zero_grad_layers`` counts them;
- ``gradflow/update_ratio/<layer>``: ||W_after - W_before|| / ||W_before|| across the optimiser step;
- ``gradflow/input_grad_norm/<layer>``: the backward signal itself, the L2 norm of the gradient of the loss with
  respect to the layer's input along this layer's path (its input is seen through a view of its own, so a map
  that feeds two branches gives each branch's share). Vanishing is a property of this signal as it travels from
  the output layer towards the trunk; a weight gradient mixes it with the forward activations. With a frozen
  trunk the first layer's input is made a leaf that asks for its gradient, on logging steps only;
- ``gradflow/trunk_grad_norm/level<i>``: in end-to-end runs, the norm of the gradient that reaches the trunk
  through the head's i-th input map (every branch together);
- for layers followed by an activation (a block, :mod:`yololab.nn.protocol`), over the logging batch:
  ``dead_fraction`` (channels through which no gradient flows for any input: max |f'(x)| < 1e-6),
  ``negative_fraction`` (share of negative pre-activations) and ``mean_abs_derivative`` (mean |f'(x)|);
- histograms (W&B only) of gradients, weights, pre- and post-activations.

The logging batch is what one optimiser step sees: every micro-batch of a gradient-accumulation window and,
under DDP, every rank's shard (the per-channel maxima and the counts are all-reduced before the fractions are
taken; a backward-signal norm is the root of the sum over micro-batches and ranks of its squared norms,
over the world size: the norm of the gradient of the loss the averaged weight gradients belong to). One row per
optimiser step, labelled with the step it belongs to (``trainer.global_step`` before the
step, as Lightning labels the metrics a training step logs). Between logging steps nothing is hooked, so the
monitor costs nothing there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from torch import nn

from yololab.nn import protocol

DEAD_DERIVATIVE = 1e-6
MAX_TRUNK_INPUTS = 8  # input maps of the head whose gradient is logged (a pyramid has 3)


@dataclass
class ActivationStats:
    """Statistics of one activation's input over a batch, per channel where it matters."""

    dead_fraction: float
    negative_fraction: float
    mean_abs_derivative: float
    pre: torch.Tensor | None = None  # flattened samples kept for histograms
    post: torch.Tensor | None = None


@dataclass
class ActivationTally:
    """What the statistics are made of, so that micro-batches and ranks can be merged before dividing:
    the per-channel maximum of |f'(x)| and the counts [negative inputs, inputs, sum of |f'(x)|]."""

    channel_max: torch.Tensor
    counts: torch.Tensor
    pre: torch.Tensor | None = None
    post: torch.Tensor | None = None

    def merged(self, other: ActivationTally | None) -> ActivationTally:
        """Both tallies together; the histogram samples of the later one."""
        if other is None:
            return self
        return ActivationTally(torch.maximum(self.channel_max, other.channel_max), self.counts + other.counts,
                               other.pre if other.pre is not None else self.pre,
                               other.post if other.post is not None else self.post)

    def stats(self) -> ActivationStats:
        negatives, total, derivative = self.counts.tolist()
        return ActivationStats((self.channel_max < DEAD_DERIVATIVE).float().mean().item(), negatives / total,
                               derivative / total, self.pre, self.post)


def tally(activation: nn.Module, pre: torch.Tensor, keep: int = 0) -> ActivationTally:
    """The tally of ``activation`` over ``pre`` [B, C, ...]; f'(x) from autograd, so any activation works."""
    x = pre.detach().float().requires_grad_(True)
    with torch.enable_grad():
        y = activation(x)
        (deriv,) = torch.autograd.grad(y.sum(), x)
    magnitude = deriv.abs()
    counts = torch.stack([(x < 0).sum(), torch.tensor(x.numel(), device=x.device), magnitude.sum()]).double()
    result = ActivationTally(magnitude.transpose(0, 1).flatten(1).amax(dim=1), counts.detach())
    if keep:
        result.pre, result.post = _sample(x.detach(), keep), _sample(y.detach(), keep)
    return result


def all_reduce_tallies(tallies: list[ActivationTally]) -> None:
    """Every rank's tallies combined in place (two collectives: the maxima, the counts); all ranks must call."""
    import torch.distributed as dist

    if not tallies or not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return
    maxima = torch.cat([t.channel_max for t in tallies])
    counts = torch.stack([t.counts for t in tallies])
    dist.all_reduce(maxima, op=dist.ReduceOp.MAX)
    dist.all_reduce(counts, op=dist.ReduceOp.SUM)
    for t, channel_max, count in zip(tallies, maxima.split([len(t.channel_max) for t in tallies]), counts,
                                     strict=True):
        t.channel_max, t.counts = channel_max, count


def _sample(t: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` evenly spaced elements of ``t``, first and last included.

    The positions are integers (i * (N - 1) // (n - 1)): float32 positions round past the end once a tensor holds
    more than 2**24 elements (a 640 px batch's first activation), an out-of-bounds index."""
    flat = t.flatten()
    if flat.numel() <= n:
        return flat.cpu()
    steps = torch.arange(n, device=flat.device, dtype=torch.int64)
    idx = torch.div(steps * (flat.numel() - 1), max(n - 1, 1), rounding_mode="floor")
    return flat[idx].cpu()


@dataclass
class _Layer:
    name: str
    weight: nn.Parameter
    activation: nn.Module | None
    spec: str | None = None  # the activation spec, e.g. "leaky_relu:0.1"; None for a linear layer
    module: nn.Module | None = None  # the weight layer, whose input's gradient is the backward signal
    before: torch.Tensor | None = None
    tally: ActivationTally | None = None  # since the optimiser step began (all its micro-batches)
    values: dict = field(default_factory=dict)


def watch_gradient(x: torch.Tensor, sums: torch.Tensor, index: int) -> torch.Tensor:
    """``x`` seen through a tensor of its own whose gradient's squared norm is added to ``sums[index]`` in the
    backward pass; a tensor outside the graph (a frozen trunk's output) becomes a leaf asking for its gradient."""
    watched = x.view_as(x) if x.requires_grad else x.detach().requires_grad_(True)

    def add(grad: torch.Tensor) -> None:
        sums[index] += grad.detach().double().pow(2).sum()

    watched.register_hook(add)
    return watched


def signal_norms(sums: torch.Tensor) -> torch.Tensor:
    """Per entry, the norm of the gradient of the loss whose weight gradients the optimiser steps with: under
    DDP every rank's squared norms summed, over the world size (DDP averages the ranks' gradients)."""
    import torch.distributed as dist

    world = 1
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        world = dist.get_world_size()
        dist.all_reduce(sums, op=dist.ReduceOp.SUM)
    return sums.sqrt() / world


class GradientFlowMonitor(L.Callback):
    """Logs gradient flow through the layers matching ``layers`` (default: every head layer).

    ``trunk_inputs`` names the module whose inputs come from the trunk (the gradient reaching it is logged when
    they ask for one). ``log_every_n_steps`` defaults to the trainer's. Disable the whole monitor with
    ``callbacks.gradient_flow=null``.
    """

    def __init__(
        self,
        layers: str = r"^model\.head\.",
        trunk_inputs: str | None = "model.head",
        log_every_n_steps: int | None = None,
        histograms: bool = True,
        histogram_bins: int = 64,
        histogram_samples: int = 20_000,
    ) -> None:
        self.pattern = re.compile(layers)
        self.trunk_inputs = trunk_inputs
        self._entry: nn.Module | None = None  # the module named by trunk_inputs, if the model has it
        self._signal: torch.Tensor | None = None  # per layer, then per trunk input: summed squared gradient norms
        self._trunk_levels = 0
        self._loss_scale = 1.0
        self.every = log_every_n_steps
        self.histograms, self.bins, self.samples = histograms, histogram_bins, histogram_samples
        self.layers: list[_Layer] = []
        self._hooks: list = []
        self._step: int | None = None  # the optimiser step being logged; None between logging steps
        self._stepped = False  # its optimiser step has happened (the last micro-batch)
        self._measuring = False
        self._zero_grad_layers = 0  # monitored layers whose gradient was exactly zero in the logged step

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.every = self.every or trainer.log_every_n_steps
        self.layers = select_layers(pl_module, self.pattern)
        names = dict(pl_module.named_modules())
        self._entry = names.get(self.trunk_inputs) if self.trunk_inputs else None
        if not self.layers:
            raise ValueError(f"gradient_flow: no trainable layer's name matches {self.pattern.pattern!r}")
        if trainer.is_global_zero:
            write_layer_index(Path(trainer.default_root_dir) / "gradflow_layers.json", self.layers)

    def _is_logging_step(self, trainer: L.Trainer) -> bool:
        return trainer.global_step % self.every == 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        """A logging step opens on its first micro-batch and stays open until its optimiser step."""
        if self._step is None and self._is_logging_step(trainer):
            self._step = trainer.global_step
            for layer in self.layers:
                layer.values, layer.tally = {}, None
            self._signal, self._trunk_levels = None, 0
        if self._step is None:
            return
        for index, layer in enumerate(self.layers):
            if layer.activation is not None:
                self._hooks.append(layer.activation.register_forward_hook(self._make_hook(layer)))
            if layer.module is not None:
                self._hooks.append(layer.module.register_forward_pre_hook(self._watch_input(index)))
        if self._entry is not None:
            self._hooks.append(self._entry.register_forward_pre_hook(self._watch_trunk))

    def _signal_sums(self, device: torch.device) -> torch.Tensor:
        """The step's squared-norm sums: one per layer, then room for the trunk's input maps."""
        if self._signal is None:
            self._signal = torch.zeros(len(self.layers) + MAX_TRUNK_INPUTS, dtype=torch.float64, device=device)
        return self._signal

    def _watch_input(self, index: int):
        def pre_hook(module, args):
            if self._measuring or not torch.is_grad_enabled() or not args or not torch.is_tensor(args[0]):
                return None
            return (watch_gradient(args[0], self._signal_sums(args[0].device), index), *args[1:])

        return pre_hook

    def _watch_trunk(self, module, args):
        """The head's input maps, when they carry a gradient back to the trunk (end to end, not frozen)."""
        feats = args[0] if args and isinstance(args[0], (list, tuple)) else None
        if not feats or not torch.is_grad_enabled() or not all(torch.is_tensor(f) and f.requires_grad for f in feats):
            return None
        sums = self._signal_sums(feats[0].device)
        self._trunk_levels = min(len(feats), MAX_TRUNK_INPUTS)
        offset = len(self.layers)
        watched = [watch_gradient(f, sums, offset + i) if i < MAX_TRUNK_INPUTS else f for i, f in enumerate(feats)]
        return (type(args[0])(watched), *args[1:])

    def _make_hook(self, layer: _Layer):
        def hook(module, inputs, output):
            if self._measuring:  # the tally runs the activation again: skip that re-entry
                return
            self._measuring = True
            try:
                new = tally(module, inputs[0], self.samples if self.histograms else 0)
                layer.tally = layer.tally.merged(new) if layer.tally else new
            finally:
                self._measuring = False

        return hook

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self._step is None:
            return
        self._remove_hooks()
        self._stepped = True
        # the backward signal was read before the loss scaler's unscaling (fp16 mixed precision): undo it
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        self._loss_scale = float(scaler.get_scale()) if scaler is not None else 1.0
        zero = 0
        for layer in self.layers:
            layer.before = layer.weight.detach().clone()
            grad = layer.weight.grad
            if grad is not None and not grad.any():
                zero += 1
            elif grad is not None:
                layer.values["grad_norm"] = grad.detach().float().norm().item()
                if self.histograms:
                    layer.values["_grad"] = _sample(grad.detach().float(), self.samples)
        self._zero_grad_layers = zero

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._remove_hooks()
        if self._step is None or not self._stepped:  # not logging, or more micro-batches to come
            return
        step, self._step, self._stepped = self._step, None, False
        all_reduce_tallies([layer.tally for layer in self.layers if layer.tally is not None])
        scalars, hists = {"gradflow/zero_grad_layers": float(self._zero_grad_layers)}, {}
        scalars.update(self._signal_scalars(trainer))
        for layer in self.layers:
            self._finish(layer, hists)
            for key, value in layer.values.items():
                if key == "_grad":
                    hists[f"gradflow/hist/grad/{layer.name}"] = value
                else:
                    scalars[f"gradflow/{key}/{layer.name}"] = value
        self._log(trainer, step, scalars, hists)

    def _signal_scalars(self, trainer: L.Trainer) -> dict[str, float]:
        """The backward-signal norms of the step; an exactly-zero one (no loss term reached it) is left out, as a
        weight gradient's is. Every rank takes part in the all-reduce, with sums of one length."""
        if trainer.world_size > 1 and self._signal is None:
            self._signal_sums(trainer.strategy.root_device)
        if self._signal is None:
            return {}
        norms = (signal_norms(self._signal) / self._loss_scale).tolist()
        self._signal = None
        names = [f"input_grad_norm/{layer.name}" for layer in self.layers]
        names += [f"trunk_grad_norm/level{i}" for i in range(self._trunk_levels)]
        return {f"gradflow/{name}": norm for name, norm in zip(names, norms, strict=False) if norm > 0}

    def _finish(self, layer: _Layer, hists: dict) -> None:
        """The layer's update ratio and activation statistics into ``layer.values``."""
        if layer.before is not None:
            after = layer.weight.detach()
            change = (after - layer.before).norm() / layer.before.norm().clamp_min(1e-12)
            layer.values["update_ratio"] = change.item()
            if self.histograms:
                hists[f"gradflow/hist/weight/{layer.name}"] = _sample(after.float(), self.samples)
            layer.before = None
        if layer.tally is not None:
            s = layer.tally.stats()
            layer.values.update(dead_fraction=s.dead_fraction, negative_fraction=s.negative_fraction,
                                mean_abs_derivative=s.mean_abs_derivative)
            if s.pre is not None:
                hists[f"gradflow/hist/preact/{layer.name}"] = s.pre
                hists[f"gradflow/hist/postact/{layer.name}"] = s.post
            layer.tally = None

    def _log(self, trainer: L.Trainer, step: int, scalars: dict, hists: dict) -> None:
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=step)
            if hists and isinstance(logger, WandbLogger):
                log_histograms(logger, hists, step, self.bins)

    def _remove_hooks(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks.clear()

    def on_train_end(self, trainer, pl_module) -> None:
        self._remove_hooks()


def write_layer_index(path: Path, layers: list[_Layer]) -> None:
    """The monitored layers in definition (depth) order, for analyses that plot against depth."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {"depth": i, "name": layer.name, "params": layer.weight.numel(), "activation": layer.spec}
        for i, layer in enumerate(layers)
    ]
    path.write_text(json.dumps(rows, indent=1))


def select_layers(pl_module: nn.Module, pattern: re.Pattern) -> list[_Layer]:
    """Trainable conv and linear layers whose name matches, each with the activation that follows it, if any
    (a frozen layer, ``model.freeze``, has no gradient to monitor).

    A layer inside a block (:mod:`yololab.nn.protocol`) is named after the block (``head.cls.0.1``).
    """
    blocks = {id(b.weight_layer): (b.name, b.activation, str(b.spec)) for b in protocol.blocks(pl_module)}
    layers = []
    for name, module in pl_module.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and pattern.search(name) and module.weight.requires_grad:
            block_name, activation, spec = blocks.get(id(module), (name, None, None))
            layers.append(_Layer(block_name.removeprefix("model."), module.weight, activation, spec, module))
    return layers


def log_histograms(logger: WandbLogger, hists: dict[str, torch.Tensor], step: int, bins: int) -> None:
    """W&B histograms from value samples; only rank 0's logger writes (the others hold a dummy)."""
    import wandb

    payload = {}
    for key, values in hists.items():
        values = values[torch.isfinite(values)]
        if values.numel() == 0:
            continue
        lo, hi = values.min().item(), values.max().item()
        if hi <= lo:
            hi = lo + 1e-12
        counts = torch.histc(values, bins=bins, min=lo, max=hi)
        edges = torch.linspace(lo, hi, bins + 1)
        payload[key] = wandb.Histogram(np_histogram=(counts.tolist(), edges.tolist()))
    logger.experiment.log({**payload, "trainer/global_step": step})
