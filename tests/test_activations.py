"""The activation registry, activation-aware initialisation and per-component activations."""

import math
from functools import partial

import pytest
import torch
from torch import nn

from yololab.models.backbone import CSPDarknet
from yololab.models.detector import YOLODetector
from yololab.models.heads import ConvHead, FCHead, MLPHead
from yololab.models.neck import PAN
from yololab.models.postprocess import decode
from yololab.nn.activations import REGISTRY, ActivationSpec, build_activation
from yololab.nn.blocks import fuse_batchnorm
from yololab.nn.init import init_for_activation
from yololab.nn.mlp import MLP

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
PHI = 0.5 * (1 + math.erf(-1 / math.sqrt(2)))  # standard normal CDF at -1
SIG = 1 / (1 + math.e)  # sigmoid(-1)
SOFTPLUS = math.log1p(math.exp(-1))
TANH_APPROX = math.tanh(math.sqrt(2 / math.pi) * (-1 - 0.044715))
RRELU_MEAN = (1 / 8 + 1 / 3) / 2

# value and derivative at x = -1, from the textbook formulas
NEGATIVE_SIDE = {
    "relu": (0.0, 0.0),
    "leaky_relu:0.1": (-0.1, 0.1),
    "elu:1.0": (math.exp(-1) - 1, math.exp(-1)),
    "elu:0.5": (0.5 * (math.exp(-1) - 1), 0.5 * math.exp(-1)),
    "selu": (SELU_SCALE * SELU_ALPHA * (math.exp(-1) - 1), SELU_SCALE * SELU_ALPHA * math.exp(-1)),
    "celu:2": (2 * (math.exp(-0.5) - 1), math.exp(-0.5)),
    "gelu": (-PHI, PHI - math.exp(-0.5) / math.sqrt(2 * math.pi)),
    "gelu_tanh": (-0.5 * (1 + TANH_APPROX), None),
    "silu": (-SIG, SIG + -1 * SIG * (1 - SIG)),
    "mish": (-math.tanh(SOFTPLUS), None),
    "hardswish": (-1 * 2 / 6, (2 * -1 + 3) / 6),
    "prelu": (-0.25, 0.25),
    "prelu:0.1": (-0.1, 0.1),
    "rrelu": (-RRELU_MEAN, RRELU_MEAN),
    "tanh": (math.tanh(-1), 1 - math.tanh(-1) ** 2),
    "identity": (-1.0, 1.0),
}


def test_every_registered_name_is_covered():
    assert {s.split(":")[0] for s in NEGATIVE_SIDE} == set(REGISTRY)


@pytest.mark.parametrize("spec", NEGATIVE_SIDE)
def test_value_and_gradient_on_the_negative_side(spec):
    act = build_activation(spec, channels=3).eval()  # eval: RReLU uses its mean slope
    x = torch.tensor([[-1.0, 2.0, 0.5]], dtype=torch.float64, requires_grad=True)
    y = act.double()(x.view(1, 3, 1, 1)).view(1, 3)
    value, slope = NEGATIVE_SIDE[spec]
    assert y[0, 0].item() == pytest.approx(value, abs=1e-6)
    y[0, 0].backward()
    if slope is not None:
        assert x.grad[0, 0].item() == pytest.approx(slope, abs=1e-6)
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("bad", ["relu6", "leaky_relu:abc", "elu:1,2", "elu:-1", "leaky_relu:nan", "rrelu:0.5,0.1",
                                 "leaky_relu:-1", "leaky_relu:", "leaky_relu:0.1,", "elu:,"])
def test_bad_specs_fail_listing_the_valid_ones(bad):
    with pytest.raises(ValueError, match=rf"'{bad}': .*; valid specs: relu, leaky_relu:negative_slope, elu:alpha"):
        ActivationSpec.parse(bad)


def test_negative_slope_and_empty_parameter_are_named():
    with pytest.raises(ValueError, match=r"'leaky_relu:-1': negative_slope must be >= 0"):
        ActivationSpec.parse("leaky_relu:-1")
    with pytest.raises(ValueError, match=r"'leaky_relu:': a parameter is empty"):  # not silently the default 0.01
        ActivationSpec.parse("leaky_relu:")
    assert ActivationSpec.parse("leaky_relu:0").params == (0.0,)


def test_spec_round_trips_and_defaults():
    assert str(ActivationSpec.parse("leaky_relu")) == "leaky_relu:0.01"
    assert str(ActivationSpec.parse("LeakY_ReLU:0.2")) == "leaky_relu:0.2"
    assert ActivationSpec.parse("leaky_relu:0.2").negative_slope == 0.2
    assert isinstance(build_activation("prelu", channels=8), nn.PReLU)
    assert build_activation("prelu", channels=8).weight.shape == (8,)


def hidden_preactivation_stds(spec: str, gain_scale: float) -> list[float]:
    torch.manual_seed(0)
    act = ActivationSpec.parse(spec)
    mlp = MLP(256, 10, 256, 6, act, norm="none").eval()
    hidden = list(mlp)[:-1]
    for layer in hidden:
        init_for_activation(layer.weight_layer.weight, act, gain_scale)
        nn.init.zeros_(layer.weight_layer.bias)
    stds = []
    with torch.no_grad():
        h = act.build(256).eval()(torch.randn(2048, 256, 1, 1))  # the stack follows an activation
        for layer in hidden:
            pre = layer.weight_layer(h)
            stds.append(pre.std().item())
            for module in list(layer)[1:]:
                pre = module(pre)
            h = pre
    return stds


@pytest.mark.parametrize("spec", sorted(REGISTRY))
def test_auto_init_keeps_preactivations_in_band_and_a_wrong_gain_leaves_it(spec):
    assert all(0.75 < s < 1.33 for s in hidden_preactivation_stds(spec, 1.0))
    assert hidden_preactivation_stds(spec, 0.8)[-1] < 0.75
    assert hidden_preactivation_stds(spec, 1.25)[-1] > 1.33


def build(head, **head_kwargs):
    torch.manual_seed(0)
    return YOLODetector(partial(CSPDarknet), partial(PAN), partial(head, **head_kwargs), num_classes=4)


@pytest.mark.parametrize("head", [ConvHead, MLPHead, partial(FCHead, width=64)])
def test_no_two_layers_share_an_activation_object(head):
    model = build(head, activation="prelu")
    acts = [m for m in model.modules() if isinstance(m, (nn.SiLU, nn.PReLU))]
    assert len(acts) > 40 and len({id(a) for a in acts}) == len(acts)


def test_head_activation_changes_nothing_outside_the_head():
    a = build(ConvHead, activation="silu")
    b = build(ConvHead, activation="leaky_relu:0.2")
    for part in ("backbone", "neck"):
        sa, sb = getattr(a, part).state_dict(), getattr(b, part).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    head_acts = {type(m) for m in b.head.modules() if not list(m.children()) and not hasattr(m, "weight")}
    assert nn.LeakyReLU in head_acts and nn.SiLU not in head_acts
    assert all(m.negative_slope == 0.2 for m in b.head.modules() if isinstance(m, nn.LeakyReLU))
    assert not any(isinstance(m, nn.LeakyReLU) for m in b.backbone.modules())


def test_branch_specs_override_the_head_spec():
    model = build(MLPHead, activation="relu", box_activation="elu", cls_activation="tanh")
    assert any(isinstance(m, nn.ELU) for m in model.head.box.modules())
    assert not any(isinstance(m, nn.ELU) for m in model.head.cls.modules())
    assert any(isinstance(m, nn.Tanh) for m in model.head.cls.modules())


@pytest.mark.parametrize("head", [ConvHead, MLPHead, partial(FCHead, width=64, grid=5)])
def test_heads_end_linear_and_produce_the_decoded_layout(head):
    model = build(head).eval()
    maps = model(torch.rand(2, 3, 160, 160))
    assert all(m.shape[:2] == (2, 4 * 16 + 4) for m in maps)
    for branch in (model.head.box, model.head.cls):
        outputs = [branch[-1]] if isinstance(branch, MLP) else [b[-1] for b in branch]
        assert all(isinstance(o, nn.Conv2d) and o.kernel_size == (1, 1) for o in outputs)
    decoded = decode(model(torch.rand(1, 3, 160, 160)), (160, 160), model.reg_max)
    assert decoded.boxes.shape == (1, decoded.anchors.shape[0], 4) and decoded.cls_logits.shape[-1] == 4


def test_selu_preset_has_no_batchnorm_and_alpha_dropout():
    model = build(MLPHead, activation="selu", norm="none", dropout=0.05)
    kinds = {type(m) for m in model.head.modules()}
    assert nn.AlphaDropout in kinds and nn.Dropout not in kinds and nn.BatchNorm2d not in kinds


@pytest.mark.parametrize("head", [ConvHead, MLPHead, partial(FCHead, width=64, grid=5)])
def test_batchnorm_folding_keeps_the_eval_outputs(head):
    """Validation runs a copy with BatchNorm folded into the convs; it must compute the same maps."""
    torch.manual_seed(0)
    model = build(head)
    with torch.no_grad():  # BatchNorm statistics away from the identity, as after training
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.eval().double()  # in float64 the folding is exact to rounding; float32 drifts ~1e-4 through 60 layers
    fused = fuse_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    x = torch.randn(2, 3, 96, 96, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(model(x), fused(x), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)
