"""One head preamble: the arguments every head shares are ``HeadArgs``, ``DetectionHead`` gives their defaults, and
a checkpoint's values of them are checked through a head's ``**common: Unpack[HeadArgs]`` like its own arguments."""

import inspect
import typing

import pytest
import torch

from yololab.checkpoints import CheckpointError
from yololab.models.heads import ConvHead, FCHead, MLPHead
from yololab.models.heads.base import DetectionHead, HeadArgs, PerLevelHead
from yololab.nn.activations import Activation
from yololab.nn.blocks import ConvNormAct
from yololab.stored_model import arguments, component_classes, parameters

SECTION = {"_target_": "yololab.models.heads.ConvHead", "_partial_": True, "activation": "silu",
           "box_activation": None, "cls_activation": None, "norm": "batch", "reg_max": 16, "img_size": 160}


def test_head_args_are_the_detection_heads_arguments_after_num_classes():
    """The TypedDict a head's ``**common`` is checked against and the base's signature that gives the defaults
    name the same arguments with the same types."""
    base = typing.get_type_hints(DetectionHead.__init__)
    assert set(inspect.signature(DetectionHead).parameters) - {"num_classes"} == set(typing.get_type_hints(HeadArgs))
    assert typing.get_type_hints(HeadArgs) == {key: base[key] for key in typing.get_type_hints(HeadArgs)}


@pytest.mark.parametrize("head", [ConvHead, MLPHead, FCHead])
def test_every_head_takes_the_shared_arguments_once(head):
    hints = parameters(head)
    own = [n for n in inspect.signature(head).parameters if n != "common"]
    assert list(hints) == [*own, *typing.get_type_hints(HeadArgs)]
    assert {key: hints[key] for key in typing.get_type_hints(HeadArgs)} == typing.get_type_hints(HeadArgs)


def test_a_stored_head_section_gives_the_shared_arguments_checked():
    cls, kwargs = arguments({**SECTION, "strides": [8, 16, 32]}, "head", component_classes("head"), "x.ckpt")
    assert cls is ConvHead and kwargs["strides"] == (8, 16, 32) and kwargs["img_size"] == 160
    head = cls(in_channels=(16, 32, 64), num_classes=2, **kwargs)
    assert head.strides == (8, 16, 32) and head.reg_max == 16 and head.img_size == 160


@pytest.mark.parametrize(("key", "value", "match"), [
    ("strides", [8, "16", 32], r"model\.head\.strides=\[8, '16', 32\]: expected tuple\[float, \.\.\.\]"),
    ("strides", [8, 16, 1e6], r"model\.head\.strides=\[8, 16, 1000000\.0\]: out of range \[1, 1024\]"),
    ("img_size", 160.5, r"model\.head\.img_size=160\.5: expected int or None"),
    ("reg_max", "16", r"model\.head\.reg_max='16': expected int"),
    ("cls_activation", 3, r"model\.head\.cls_activation=3: an activation is a spec string"),
    ("stride", [8], r"model\.head\.stride: ConvHead takes no argument 'stride'"),
    ("common", {"reg_max": 4}, r"model\.head\.common: ConvHead takes no argument 'common'"),
], ids=["strides-type", "strides-range", "img_size", "reg_max", "activation", "unknown", "the-kwargs-name"])
def test_a_wrong_shared_head_argument_is_refused_naming_the_key(key, value, match):
    with pytest.raises(CheckpointError, match=rf"x\.ckpt: refused: its stored config has {match}"):
        arguments({**SECTION, key: value}, "head", component_classes("head"), "x.ckpt")


class OldStyleHead(PerLevelHead):
    """A fork's head written before HeadArgs: every shared argument its own, passed on positionally."""

    def __init__(self, in_channels: tuple[int, ...], num_classes: int, strides: tuple[float, ...] = (8, 16, 32),
                 reg_max: int = 16, activation: Activation = "silu", box_activation: Activation | None = None,
                 cls_activation: Activation | None = None, norm: str = "batch", img_size: int | None = None):
        super().__init__(num_classes, reg_max, activation, box_activation, cls_activation, img_size)
        widths = {"box": max(16, in_channels[0] // 4, 4 * reg_max),
                  "cls": max(in_channels[0], min(num_classes, 100))}

        def branch(kind, in_ch, out_ch, act):
            hidden = widths[kind]
            return torch.nn.Sequential(ConvNormAct(in_ch, hidden, 3, activation=act, norm=norm),
                                       ConvNormAct(hidden, hidden, 3, activation=act, norm=norm),
                                       torch.nn.Conv2d(hidden, out_ch, 1))

        self.build_branches(in_channels, strides, branch)


def test_a_head_written_the_old_way_still_builds_and_is_checked():
    kwargs = {"activation": "leaky_relu:0.1", "reg_max": 8, "img_size": 160, "norm": "batch"}
    heads = []
    for cls in (OldStyleHead, ConvHead):
        torch.manual_seed(0)
        heads.append(cls(in_channels=(16, 32, 64), num_classes=3, **kwargs).state_dict())
    assert heads[0].keys() == heads[1].keys() and all(torch.equal(heads[0][k], heads[1][k]) for k in heads[0])
    assert set(parameters(OldStyleHead)) == set(parameters(ConvHead))
