"""An open activation registry: a class, a callable, a dotted class path or a registered name is an activation
everywhere a spec is, each layer with its own module; a bad one is named with why."""

import importlib.util
import sys
from functools import partial

import pytest
import torch
from tests.conftest import compose_config
from torch import nn

from yololab import activation_spec
from yololab.checkpoints import CheckpointError
from yololab.models.backbone import CSPDarknet
from yololab.models.detector import YOLODetector
from yololab.models.heads import ConvHead, FCHead, MLPHead
from yololab.models.neck import PAN
from yololab.models.summary import activation_census
from yololab.nn.activations import ActivationSpec, build_activation, register_activation, requires
from yololab.stored_model import activation
from yololab.study.arms import arm_of


class ScaledTanh(nn.Module):
    """A fork's own activation, with a keyword parameter."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.beta * x)


@pytest.fixture
def registry(monkeypatch):
    """The registry (one table: ``activation_spec.SIGNATURES``) as it is, restored after the test (registrations
    are process-wide)."""
    monkeypatch.setattr(activation_spec, "SIGNATURES", dict(activation_spec.SIGNATURES))


def head_modules(head, activation, kind):
    torch.manual_seed(0)
    model = YOLODetector(partial(CSPDarknet), partial(PAN), partial(head, activation=activation), num_classes=3)
    maps = model.eval()(torch.rand(1, 3, 96, 96))
    assert all(torch.isfinite(m).all() for m in maps)
    found = [m for m in model.head.modules() if isinstance(m, kind)]
    assert found and len({id(m) for m in found}) == len(found)  # every layer its own module
    assert not any(isinstance(m, kind) for m in model.backbone.modules())
    return model, found


@pytest.mark.parametrize("head", [ConvHead, MLPHead, partial(FCHead, width=32, grid=3)])
def test_a_class_is_an_activation(head):
    model, found = head_modules(head, nn.Hardtanh, nn.Hardtanh)
    assert activation_census(model.head) == {"Hardtanh": len(found)}


def test_a_partial_is_an_activation_named_with_its_arguments():
    model, found = head_modules(MLPHead, partial(ScaledTanh, beta=2.0), ScaledTanh)
    assert all(m.beta == 2.0 for m in found)
    assert activation_census(model.head) == {"ScaledTanh(beta=2.0)": len(found)}


def test_a_dotted_class_path_is_a_spec_from_the_command_line(tmp_path):
    cfg = compose_config(tmp_path, ["experiment=study/head_activation",
                                    "model.head.activation='torch.nn.Hardtanh:-2,2'"])
    assert cfg.arm == "torch.nn.Hardtanh:-2,2"  # the study's arm: the spec string itself
    _, found = head_modules(MLPHead, cfg.model.head.activation, nn.Hardtanh)
    assert all((m.min_val, m.max_val) == (-2.0, 2.0) for m in found)
    arm = arm_of(cfg.arm, [])  # the report reads it without torch's help
    assert (arm.activation, arm.family, arm.slope) == ("torch.nn.Hardtanh:-2,2", "torch.nn.Hardtanh", None)


def test_a_registered_name_is_a_spec_with_its_own_checks(registry):
    register_activation("scaled_tanh", lambda beta: ScaledTanh(beta), params=("beta",), defaults=(1.0,),
                        check=requires(lambda p: p[0] > 0, "beta must be > 0"))
    assert build_activation("scaled_tanh").beta == 1.0
    _, found = head_modules(ConvHead, "Scaled_Tanh:3", ScaledTanh)
    assert all(m.beta == 3.0 for m in found)
    assert activation_spec.valid_specs().endswith(", identity, scaled_tanh:beta")
    with pytest.raises(ValueError, match=r"^activation 'scaled_tanh:-1': beta must be > 0; valid specs: relu, "):
        ActivationSpec.parse("scaled_tanh:-1")
    with pytest.raises(ValueError, match=r"'scaled_tanh:1,2': takes at most 1 parameter\(s\) \(beta\)"):
        ActivationSpec.parse("scaled_tanh:1,2")


def test_a_per_channel_registration_gets_the_channels(registry):
    register_activation("prelu0", lambda ch, init: nn.PReLU(ch, init), ("init",), (0.0,), per_channel=True)
    assert build_activation("prelu0", channels=5).weight.shape == (5,)


@pytest.mark.parametrize(("name", "kwargs", "match"), [
    ("relu", {}, r"'relu' is already an activation"),
    ("My.Act", {}, r"a name is a lowercase identifier"),
    ("my_act", {"params": ("a", "b"), "defaults": (1.0,)},
     r"give one default per parameter \(2 parameter\(s\), 1 default"),
    ("my_act", {"params": ("a",), "defaults": (-1.0,), "check": requires(lambda p: p[0] > 0, "a must be > 0")},
     r"its defaults fail its own check: a must be > 0"),
    ("my_act", {"factory": "torch.nn.Tanh"}, r"the factory must be callable"),
])
def test_a_bad_registration_says_what_is_wrong(registry, name, kwargs, match):
    kwargs = {"factory": nn.Tanh, **kwargs}
    with pytest.raises(ValueError, match=rf"^register_activation\('{name}'\): {match}"):
        register_activation(name, **kwargs)
    assert name not in activation_spec.SIGNATURES or name == "relu"


@pytest.mark.parametrize(("spec", "match"), [
    ("torch.nn.Hardtan", r"'torch\.nn\.Hardtan': cannot import it \(AttributeError: .*Hardtan"),
    ("no_such_package.acts.Act", r"'no_such_package\.acts\.Act': cannot import it \(ModuleNotFoundError: No module "
                                 r"named 'no_such_package'\)"),
    ("math.sqrt", r"'math\.sqrt': math\.sqrt is not an nn\.Module class"),
    ("torch.nn.Linear", r"'torch\.nn\.Linear': calling it with no arguments failed"),
    ("torch.nn.2d", r"'torch\.nn\.2d': not a dotted path to a class"),
    (nn.Hardtanh(), r"'Hardtanh': give the class or a callable making a new module, not a module"),
    (lambda: torch.tanh, r"'<lambda>': it made a builtin_function_or_method, not an nn\.Module"),
])
def test_a_bad_activation_says_what_is_wrong(spec, match):
    with pytest.raises(ValueError, match=rf"^activation {match}"):
        build_activation(spec)


def test_a_checkpoint_imports_no_activation_module_it_names():
    assert activation("torch.nn.Hardtanh:-2,2", "head.activation", "a.ckpt") == "torch.nn.Hardtanh:-2,2"
    with pytest.raises(CheckpointError, match=r"a\.ckpt: refused: .*model\.head\.box_activation='evil\.pkg\.Act': "
                       r"evil\.pkg\.Act comes from evil\.pkg, which this command did not import .*"
                       r"pass imports=\[evil\.pkg\]"):
        activation("evil.pkg.Act", "head.box_activation", "a.ckpt")
    assert "evil" not in sys.modules


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs the export extras")
def test_export_checks_an_activation_given_as_a_class():
    from yololab.nn.blocks import ConvNormAct
    from yololab.tasks.export import check_activations

    model = nn.Sequential(ConvNormAct(3, 4, activation=nn.Hardtanh), ConvNormAct(4, 4, activation="relu"))
    assert check_activations(model) == ["Hardtanh", "relu"]
