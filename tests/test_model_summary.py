"""The model summary's FLOP count: taken on the model's own device, so a model already moved to the GPU
(``trainer=gpu``) can be summarised when fitting starts."""

import hydra
import torch
from tests.conftest import compose_config
from torch import nn

from yololab.models.summary import count_flops


def test_count_flops_runs_on_the_models_device_and_counts_as_on_cpu(tmp_path):
    """The meta device stands in for a GPU: a probe image made on the CPU cannot enter a model that is not."""
    cfg = compose_config(tmp_path, ["data.img_size=64"])
    model = hydra.utils.instantiate(cfg.model, class_names=["a", "b"]).model
    on_cpu = count_flops(model, 64)
    on_meta = count_flops(model.to("meta"), 64)
    assert on_meta == on_cpu
    assert on_cpu["total"] > 0


def test_count_flops_of_a_single_convolution_by_hand():
    """2 x multiply-adds: a 3x3 conv 3 -> 8 channels, stride 1, padding 1, on a 64 x 64 image."""

    class Toy(nn.Module):
        in_channels = 3

        def __init__(self):
            super().__init__()
            self.backbone = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.neck = nn.Identity()
            self.head = nn.Identity()

    flops = count_flops(Toy(), 64)
    assert flops["backbone"] * 1e9 == 2 * 64 * 64 * 8 * 3 * 3 * 3
    assert flops["neck"] == flops["head"] == 0
    assert torch.isclose(torch.tensor(flops["total"]), torch.tensor(flops["backbone"]))
