"""A sampler whose order depends on (seed, epoch) alone and that shards itself across DDP ranks.

It yields ``(epoch, index)`` keys, so the dataset can seed each sample's augmentation from
(seed, epoch, index): the same run gives the same batches whatever the number of workers, and a
resumed run gives the batches the uninterrupted one would have. Training shards are padded by
wrapping around, so every rank takes the same number of steps; evaluation shards are not padded,
so no image is counted twice. The trainer runs with ``use_distributed_sampler: false``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class ReproducibleSampler(Sampler[tuple[int, int]]):
    def __init__(self, size: int, shuffle: bool, seed: int = 0, pad_to_equal: bool = True) -> None:
        self.size, self.shuffle, self.seed, self.pad_to_equal = size, shuffle, seed, pad_to_equal
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.size))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.size, generator=g).tolist()

    def _shard(self) -> list[int]:
        rank, world = _rank_and_world()
        order = self._order()
        if self.pad_to_equal and world > 1:
            per_rank = -(-self.size // world)
            order = (order * (1 + per_rank * world // max(self.size, 1)))[: per_rank * world]
        return order[rank::world]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, i) for i in self._shard()])

    def __len__(self) -> int:
        return len(self._shard())
