"""The block protocol: how yololab finds "a weight layer, a norm, an activation" in any network.

Activation-aware init (:mod:`yololab.nn.init`), the activation census (:mod:`yololab.models.summary`), the
gradient-flow monitor (:mod:`yololab.callbacks.gradient_flow`) and BatchNorm fusion (:func:`fuse_batchnorm`) all
read a network through :func:`blocks`, so a fork's head built from plain torch modules is treated as yololab's
own. A block is either:

1. a module with ``weight_layer`` (a Conv/Linear), ``activation`` (the module after it) and ``activation_spec``
   (an :class:`~yololab.nn.activations.ActivationSpec`), optionally ``norm``: :class:`~yololab.nn.blocks.ConvNormAct`
   and any fork class that exposes the same attributes (fusion also needs it to be ``nn.Sequential(conv, norm,
   ...)``);
2. inside any ``nn.Sequential``, a ``Conv1d/2d/3d`` or ``Linear``, optionally a norm (BatchNorm, LayerNorm,
   GroupNorm), then an activation (a ``torch.nn`` activation, or any parameter-free module of a fork's own).

A ``torch.nn`` activation found in no block stops every reader with a :class:`ProtocolError` naming it (never a
silent skip): wrap it in one of the two forms, or train with ``model.init=torch_default`` and no gradient-flow
monitor. See docs/blocks.md.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

from torch import nn
from torch.nn.modules import activation as torch_activations
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from yololab.nn.activations import ActivationSpec

WEIGHT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)
NOT_POINTWISE = (nn.MultiheadAttention, nn.Softmax, nn.Softmin, nn.LogSoftmax, nn.Softmax2d)
# torch.nn activation class -> its registered spec (others are read as the module itself)
SPECS = {nn.ReLU: lambda m: "relu", nn.LeakyReLU: lambda m: f"leaky_relu:{m.negative_slope}",
         nn.ELU: lambda m: f"elu:{m.alpha}", nn.CELU: lambda m: f"celu:{m.alpha}", nn.SELU: lambda m: "selu",
         nn.GELU: lambda m: "gelu" if m.approximate == "none" else "gelu_tanh", nn.SiLU: lambda m: "silu",
         nn.Mish: lambda m: "mish", nn.Hardswish: lambda m: "hardswish", nn.Tanh: lambda m: "tanh"}


class ProtocolError(ValueError):
    """A module yololab's block readers cannot handle."""


@dataclass(frozen=True)
class Block:
    name: str  # the module path of the block (form 1) or of its weight layer (form 2)
    weight_layer: nn.Module
    activation: nn.Module
    spec: ActivationSpec
    norm: nn.Module | None = None
    parent: nn.Sequential | None = None  # holds weight_layer at ``index`` and the norm right after it
    index: int = 0


def is_torch_activation(module: nn.Module) -> bool:
    return type(module).__module__ == torch_activations.__name__ and not isinstance(module, NOT_POINTWISE)


def is_activation(module: nn.Module) -> bool:
    """A torch.nn activation, or a parameter-free leaf module of a fork's own (torch's other modules, such as
    pools, dropouts and pads, are not activations)."""
    if is_torch_activation(module) or isinstance(module, nn.PReLU):
        return True
    leaf = not list(module.children()) and not list(module.parameters())
    return leaf and not type(module).__module__.startswith("torch.")


def spec_of(module: nn.Module) -> ActivationSpec:
    """The spec of an activation module: its registered spec, or one that builds copies of it."""
    named = SPECS.get(type(module))
    if named is not None:
        return ActivationSpec.parse(named(module))
    return ActivationSpec(type(module).__name__, (), functools.partial(copy.deepcopy, module))


def attribute_block(name: str, module: nn.Module) -> Block:
    norm = getattr(module, "norm", None)
    parent = module if isinstance(module, nn.Sequential) and len(module) > 1 and module[0] is module.weight_layer \
        else None
    return Block(name, module.weight_layer, module.activation, module.activation_spec, norm, parent)


def sequence_blocks(name: str, seq: nn.Sequential) -> list[Block]:
    """Form 2: (weight layer, [norm], activation) runs among the children of ``seq``."""
    children, found = list(seq), []
    for i, layer in enumerate(children):
        if not isinstance(layer, WEIGHT_LAYERS):
            continue
        j = i + 1 + (i + 1 < len(children) and isinstance(children[i + 1], NORMS))
        if j < len(children) and is_activation(children[j]):
            norm = children[i + 1] if j == i + 2 else None
            prefix = f"{name}." if name else ""
            found.append(Block(f"{prefix}{i}", layer, children[j], spec_of(children[j]), norm, seq, i))
    return found


def blocks(model: nn.Module) -> list[Block]:
    """Every block of ``model`` in module order; a torch.nn activation in no block raises :class:`ProtocolError`."""
    found: list[Block] = []
    inside: list[str] = []  # form-1 blocks: their children are theirs
    for name, module in model.named_modules():
        if any(name.startswith(f"{p}.") for p in inside):
            continue
        if getattr(module, "activation_spec", None) is not None and hasattr(module, "weight_layer"):
            found.append(attribute_block(name, module))
            inside.append(name)
        elif isinstance(module, nn.Sequential):
            found += sequence_blocks(name, module)
    covered = {id(b.activation) for b in found}
    for name, module in model.named_modules():
        if is_torch_activation(module) and id(module) not in covered:
            raise ProtocolError(
                f"{name or type(model).__name__} ({type(module).__name__}) is an activation outside any block "
                "yololab can read (init, census, gradient flow, BatchNorm fusion): put it after its Conv/Linear "
                "[and norm] in an nn.Sequential, use ConvNormAct, or expose weight_layer/activation/"
                "activation_spec (docs/blocks.md)")
    return found


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """An evaluation copy of ``model`` with the BatchNorm of every block folded into its conv or linear layer
    (``torch.nn.utils.fusion``): the same outputs in eval mode, one pass over memory fewer per layer. A
    BatchNorm left unfused stops with :class:`ProtocolError` naming it."""
    fused = copy.deepcopy(model).eval()
    for block in blocks(fused):
        if isinstance(block.norm, nn.modules.batchnorm._BatchNorm) and block.parent is not None:
            fuse = fuse_linear_bn_eval if isinstance(block.weight_layer, nn.Linear) else fuse_conv_bn_eval
            i = block.index
            block.parent[i], block.parent[i + 1] = fuse(block.weight_layer, block.norm), nn.Identity()
    left = [f"{name} ({type(m).__name__})" for name, m in fused.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if left:
        raise ProtocolError(f"BatchNorm fusion cannot fold {', '.join(left[:6])}: a BatchNorm is folded only "
                            "right after a Conv/Linear in a block (docs/blocks.md)")
    return fused
