"""The encoder's reorder buffer: results arrive in any order (several workers, re-sent frames) and leave in seq
order from 0. A result for a seq already written or already held is a duplicate (a frame re-sent after its
worker was dropped whose first copy arrived after all) and is counted, not kept. Pure: no sockets, no clock."""

from __future__ import annotations

from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class ReorderBuffer(Generic[T]):
    def __init__(self) -> None:
        self.held: dict[int, T] = {}
        self.next_seq = 0  # the next seq to hand out (= how many have been handed out)
        self.duplicates = 0

    def add(self, seq: int, item: T) -> bool:
        """Hold `item` for `seq`; False (and counted) for a duplicate."""
        if seq < self.next_seq or seq in self.held:
            self.duplicates += 1
            return False
        self.held[seq] = item
        return True

    def ready(self) -> Iterator[T]:
        """The items that are next in order, each taken out as it is handed over; `next_seq` moves past an item
        once the consumer asks for the one after it (an item whose handling raised is not counted as done)."""
        while self.next_seq in self.held:
            yield self.held.pop(self.next_seq)
            self.next_seq += 1

    def missing(self, expected: int) -> list[int]:
        """The seqs below `expected` neither handed out nor held."""
        return [s for s in range(self.next_seq, expected) if s not in self.held]

    def __len__(self) -> int:
        return len(self.held)
