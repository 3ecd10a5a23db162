"""A sampler whose order depends on (seed, epoch) alone and that shards itself across DDP ranks.

It yields ``(epoch, index)`` keys, so the dataset can seed each sample's augmentation from
(seed, epoch, index): the same run gives the same batches whatever the number of workers, and a
resumed run gives the batches the uninterrupted one would have. Training shards are padded by
wrapping around, so every rank takes the same number of steps; evaluation shards are not padded,
so no image is counted twice. The trainer runs with ``use_distributed_sampler: false``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class ReproducibleSampler(Sampler[tuple[int, int]]):
    def __init__(self, size: int, shuffle: bool, seed: int = 0, pad_to_equal: bool = True) -> None:
        self.size, self.shuffle, self.seed, self.pad_to_equal = size, shuffle, seed, pad_to_equal
        self.epoch = 0
        self.resume_at: tuple[int, int] | None = None  # (epoch, samples of this rank's shard already seen)

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
        shard = self._shard()
        if self.resume_at is not None and self.resume_at[0] == self.epoch:
            shard = shard[self.resume_at[1] :]
        self.resume_at = None
        return iter([(self.epoch, i) for i in shard])

    def __len__(self) -> int:
        return len(self._shard())


class ResumableDataLoader(DataLoader):
    """A DataLoader that Lightning can checkpoint mid-epoch (it has ``state_dict``/``load_state_dict``):
    the state is how many batches of the epoch were handed out; on resume the sampler skips them."""

    def __iter__(self):
        self._batches_done = 0
        for batch in super().__iter__():
            self._batches_done += 1
            yield batch

    def state_dict(self) -> dict:
        return {"epoch": getattr(self.sampler, "epoch", 0), "batches_done": getattr(self, "_batches_done", 0)}

    def load_state_dict(self, state: dict) -> None:
        if isinstance(self.sampler, ReproducibleSampler):  # Lightning swaps in its own for overfit_batches
            self.sampler.resume_at = (state["epoch"], state["batches_done"] * self.batch_size)


def lower_priority(niceness: int, worker_id: int) -> None:
    """Loader worker start-up: run below the training process, so that on a CPU-bound machine the
    step's compute threads are never preempted by augmentation (measured in docs/speed.md)."""
    os.nice(niceness)
