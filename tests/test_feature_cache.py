"""``model.cache_features``: a frozen trunk's features computed once per image, equal to computing them afresh,
refused when the images change (augmentation on) or when the trunk is not frozen."""

import hydra
import pytest
import torch
from hydra.errors import InstantiationException
from tests.conftest import compose_config


def probe(tmp_path, ckpt, extra=()):
    cfg = compose_config(tmp_path, ["data.img_size=160", f"model.init_from={ckpt}", "model/head=mlp", *extra])
    class_names = torch.load(ckpt, map_location="cpu", weights_only=True)["yololab"]["class_names"]
    return hydra.utils.instantiate(cfg.model, class_names=class_names)


class Counting:
    """The trunk, counting the images it is run on."""

    def __init__(self, trunk):
        self.trunk, self.images = trunk, 0

    def __call__(self, images):
        self.images += len(images)
        return self.trunk(images)


def test_cached_features_equal_fresh_ones_and_are_computed_once(tmp_path, trunk_checkpoint):
    module = probe(tmp_path, trunk_checkpoint, ["model.freeze=[backbone,neck]", "model.cache_features=true"])
    model = module.model.train()
    images = torch.rand(4, 3, 160, 160, generator=torch.Generator().manual_seed(1))
    trunk, cache = Counting(model.features), module.feature_caches["train"]
    first = cache(trunk, images, torch.tensor([5, 6, 7, 8]))
    with torch.no_grad():
        fresh = model.features(images)
    assert [f.shape for f in first] == [f.shape for f in fresh]
    for cached, computed in zip(first, fresh, strict=True):
        torch.testing.assert_close(cached, computed, rtol=1e-5, atol=1e-5)  # one image at a time vs a batch
    # another batch order, one new image: only the new one runs through the trunk; rows follow the indices
    again = cache(trunk, torch.stack([images[2], images[0], images[3]]), torch.tensor([7, 5, 9]))
    assert trunk.images == 5
    assert torch.equal(again[0][0], first[0][2]) and torch.equal(again[1][1], first[1][0])
    assert not any(f.requires_grad for f in again)


def test_a_changed_image_stops_the_run(tmp_path, trunk_checkpoint):
    module = probe(tmp_path, trunk_checkpoint, ["model.freeze=[backbone,neck]", "model.cache_features=true"])
    images = torch.rand(2, 3, 160, 160, generator=torch.Generator().manual_seed(2))
    cache = module.feature_caches["train"]
    cache(module.model.features, images, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"train image 1 is not the image whose features were cached "
                                         r"\(augmentation is on\): set data/augment=none"):
        cache(module.model.features, images.flip(-1), torch.tensor([1, 0]))


def test_caching_needs_a_frozen_trunk(tmp_path, trunk_checkpoint):
    with pytest.raises(InstantiationException) as err:
        probe(tmp_path, trunk_checkpoint, ["model.freeze=[backbone]", "model.cache_features=true"])
    assert "model.cache_features=true needs a frozen trunk: model.freeze=[backbone,neck]" in str(err.value.__cause__)
