"""What a detector is made of: per component, its activations, parameter count and GFLOPs."""

from __future__ import annotations

import copy
from collections import Counter

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from yololab.models.detector import COMPONENTS, YOLODetector
from yololab.nn.activations import ActivationSpec
from yololab.nn.protocol import blocks


def layer_specs(module: nn.Module) -> list[ActivationSpec]:
    """The activation spec of every block of ``module`` (:mod:`yololab.nn.protocol`), in module order."""
    return [block.spec for block in blocks(module)]


def activation_census(module: nn.Module) -> dict[str, int]:
    """How many layers use each activation spec, e.g. {'silu': 57}."""
    return dict(Counter(str(spec) for spec in layer_specs(module)))


def activation_specs(module: nn.Module) -> dict[str, ActivationSpec]:
    """One spec per distinct spec string in ``module``, in first-use order (for checks run once per activation)."""
    specs: dict[str, ActivationSpec] = {}
    for spec in layer_specs(module):
        specs.setdefault(str(spec), spec)
    return specs


def count_flops(model: YOLODetector, img_size: int) -> dict[str, float]:
    """GFLOPs (2 x multiply-adds) for one image at ``img_size``, per component and in total.

    The probe image is made on the model's own device: a model already on the GPU counts there."""
    probe = copy.deepcopy(model).float().eval()
    x = torch.zeros(1, probe.in_channels, img_size, img_size, device=next(probe.parameters()).device)
    flops = {}
    with torch.no_grad():
        for name in COMPONENTS:
            with FlopCounterMode(display=False) as counter:
                x = getattr(probe, name)(x)
            flops[name] = counter.get_total_flops() / 1e9
    flops["total"] = sum(flops.values())
    return flops


def model_summary(model: YOLODetector, img_size: int) -> dict:
    flops = count_flops(model, img_size)
    rows = {}
    for name in COMPONENTS:
        part = getattr(model, name)
        rows[name] = {
            "class": type(part).__name__,
            "activations": activation_census(part),
            "params": sum(p.numel() for p in part.parameters()),
            "trainable": sum(p.numel() for p in part.parameters() if p.requires_grad),
            "gflops": round(flops[name], 3),
        }
    return {
        "components": rows,
        "params": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "gflops": round(flops["total"], 3),
        "img_size": img_size,
    }


def format_summary(summary: dict) -> str:
    lines = [f"{'component':<10} {'class':<12} {'params':>10} {'trainable':>10} {'GFLOPs':>8}  activations"]
    for name, row in summary["components"].items():
        acts = ", ".join(f"{spec} x{n}" for spec, n in row["activations"].items())
        lines.append(f"{name:<10} {row['class']:<12} {row['params']:>10,} {row['trainable']:>10,} "
                     f"{row['gflops']:>8.3f}  {acts}")
    lines.append(f"{'total':<10} {'':<12} {summary['params']:>10,} {summary['trainable']:>10,} "
                 f"{summary['gflops']:>8.3f}  at {summary['img_size']}x{summary['img_size']}")
    return "\n".join(lines)
