"""The optimiser's parameter groups, parameter by parameter on real models, and the warm-up + decay schedule's
learning rates at chosen steps against hand-computed values."""

import math

import hydra
import pytest
import torch
from tests.conftest import compose_config
from torch import nn

from yololab.optim import WarmupDecay, param_groups

PRELU_EVERYWHERE = ["model.backbone.activation=prelu", "model.neck.activation=prelu", "model.head.activation=prelu"]


@pytest.mark.parametrize("overrides", [[], ["model/head=mlp", "model.head.norm=layer"]],
                         ids=["conv-batch", "mlp-layer"])
def test_weight_decay_on_conv_weights_only_never_on_norms_biases_or_prelu_slopes(tmp_path, overrides):
    cfg = compose_config(tmp_path, [*PRELU_EVERYWHERE, *overrides])
    model = hydra.utils.instantiate(cfg.model, class_names=["a", "b", "c"]).model
    groups = param_groups(model, 0.05)
    assert [g["weight_decay"] for g in groups] == [0.05, 0.0]
    decay, no_decay = ({id(p) for p in g["params"]} for g in groups)
    assert not decay & no_decay
    assert len(decay) + len(no_decay) == len(list(model.parameters()))  # every parameter, once
    kinds = {"conv weight": 0, "bias": 0, "norm weight": 0, "prelu slope": 0}
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            where = f"{module_name}.{name}"
            if name == "bias":
                kind, group = "bias", no_decay
            elif isinstance(module, nn.PReLU):
                kind, group = "prelu slope", no_decay
            elif isinstance(module, (nn.BatchNorm2d, nn.LayerNorm)):
                kind, group = "norm weight", no_decay
            elif isinstance(module, (nn.Conv2d, nn.Linear)) and name == "weight":
                kind, group = "conv weight", decay
            else:
                pytest.fail(f"{where}: a parameter of a kind this test does not know ({type(module).__name__})")
            assert id(param) in group, f"{where} ({kind}) is in the wrong group"
            kinds[kind] += 1
    assert all(kinds.values()), kinds  # the model has every kind


def learning_rates(steps: int, **kwargs) -> list[float]:
    """The rate each of ``steps`` optimiser steps runs with (the scheduler is stepped after each)."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = WarmupDecay(optimizer, **kwargs)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_warmup_then_cosine_decay_at_chosen_steps():
    """Base 0.1, 10 steps, 4 of warm-up: (s + 1) / 5 of the base rate during warm-up, then
    0.01 + 0.99 * (1 + cos(pi * (s - 4) / 6)) / 2."""
    lr = learning_rates(12, total_steps=10, steps_per_epoch=2, warmup_epochs=2.0, decay="cosine", final_lr_ratio=0.01)
    assert lr[0] == pytest.approx(0.02)  # first step: 1/5
    assert lr[2] == pytest.approx(0.06)  # mid-warm-up: 3/5
    assert lr[3] == pytest.approx(0.08)  # last warm-up step: 4/5
    assert lr[4] == pytest.approx(0.1)  # end of warm-up: the base rate
    assert lr[7] == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))  # mid-decay: cos(pi / 2) = 0
    assert lr[9] == pytest.approx(0.1 * (0.01 + 0.99 * (1 - math.sqrt(3) / 2) / 2))  # last: cos(5 pi / 6)
    assert lr[9] == pytest.approx(0.0076317, abs=1e-7)
    assert lr[10] == lr[11] == pytest.approx(0.001)  # past the end: the final ratio


def test_warmup_then_linear_decay_at_chosen_steps():
    lr = learning_rates(11, total_steps=10, steps_per_epoch=2, warmup_epochs=2.0, decay="linear", final_lr_ratio=0.01)
    assert lr[:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    assert lr[7] == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))
    assert lr[9] == pytest.approx(0.1 * (0.01 + 0.99 / 6))  # 0.0175
    assert lr[10] == pytest.approx(0.001)
