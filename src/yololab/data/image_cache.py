"""The RAM image cache (``data.cache.ram``): decoded images kept in memory by path, up to a byte budget.

The data check decodes every image once anyway (``data/check.py``); with a cache, the data module hands
it :meth:`ImageCache.add` as the scan's image sink, so the images it decodes are kept and never decoded
again. The datasets of that scan share the cache (loader workers fork after it is filled, so they share
it too) and read the rest from disk as usual.
"""

from __future__ import annotations

import os

import numpy as np


def memory_budget() -> int:
    """Bytes a cache may take: half of the memory available now (the rest of the images are read from
    disk as usual), so a large dataset, or one copy per DDP rank, never runs the machine out of memory."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):  # not POSIX: no cache rather than a guess
        return 0


class ImageCache:
    """Images by path, kept in the order offered while each fits in what is left of ``budget`` bytes
    (default: :func:`memory_budget`, measured when the cache is made)."""

    def __init__(self, budget: int | None = None) -> None:
        self.budget = memory_budget() if budget is None else budget
        self.nbytes = 0
        self._images: dict[str, np.ndarray] = {}

    def add(self, path: str, image: np.ndarray) -> None:
        """Keep ``image`` if it fits in the budget left; else leave it to be read from disk."""
        if image.nbytes <= self.budget - self.nbytes:
            self._images[path] = image
            self.nbytes += image.nbytes

    def get(self, path: str) -> np.ndarray | None:
        return self._images.get(path)

    def __len__(self) -> int:
        return len(self._images)

    def __contains__(self, path: str) -> bool:
        return path in self._images
