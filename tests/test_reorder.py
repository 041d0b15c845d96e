"""The encoder's reorder buffer (nodes/encoder.py), directly: results in any order out in seq order, duplicates
counted and dropped, what is missing named."""

from __future__ import annotations

import pytest

from gfn_stream.nodes.encoder import ReorderBuffer


def test_results_leave_in_seq_order_whatever_order_they_arrive_in():
    buf = ReorderBuffer()
    out = []
    for seq in (2, 0, 3, 1, 5):
        assert buf.add(seq, f"r{seq}")
        out += list(buf.ready())
    assert out == ["r0", "r1", "r2", "r3"]
    assert buf.next_seq == 4 and len(buf) == 1  # 5 waits for 4
    assert buf.missing(7) == [4, 6]
    buf.add(4, "r4")
    assert list(buf.ready()) == ["r4", "r5"] and len(buf) == 0 and buf.missing(6) == []


def test_a_frame_written_or_held_already_is_a_duplicate():
    buf = ReorderBuffer()
    buf.add(0, "first")
    list(buf.ready())
    assert not buf.add(0, "again")  # written already (a re-sent frame whose first copy arrived after all)
    assert buf.add(2, "two")
    assert not buf.add(2, "two again")  # held already
    assert buf.duplicates == 2 and buf.held == {2: "two"}


def test_an_item_whose_writing_failed_is_not_counted_as_written():
    buf = ReorderBuffer()
    buf.add(0, "a")
    buf.add(1, "b")
    with pytest.raises(OSError):
        for item in buf.ready():
            if item == "b":
                raise OSError("disk full")
    assert buf.next_seq == 1  # "a" was written, "b" was not (taken out: the run fails on it)
