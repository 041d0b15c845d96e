import json
from fractions import Fraction

import numpy as np
import pytest
from workers_kit import ledger

from gfn_stream.transport import protocol as p


def _frame_parts(h=17, w=33, seq=5, pts=1200):
    img = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return img, p.pack_frame(p.FrameHeader(seq, pts, Fraction(1, 90000), 0, 0), img)


def test_frame_round_trip_zero_copy_view():
    img, parts = _frame_parts()
    header = json.loads(parts[0])
    assert header["v"] == p.PROTOCOL_VERSION and header["kind"] == "frame"
    assert header["w"] == 33 and header["h"] == 17 and header["strides"] == [99] and header["tb"] == [1, 90000]
    fh, out = p.unpack_frame(p.unpack(parts))
    assert (fh.seq, fh.pts, fh.time_base) == (5, 1200, Fraction(1, 90000))
    np.testing.assert_array_equal(out, img)


def test_non_contiguous_image_is_sent_correctly():
    big = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    view = big[::2, ::3]
    fh, out = p.unpack_frame(p.unpack(p.pack_frame(p.FrameHeader(0, None, Fraction(1, 25), 0, 0), view)))
    np.testing.assert_array_equal(out, view)
    assert fh.pts is None


def _mutate(parts, **changes):
    header = json.loads(parts[0])
    header.update(changes)
    return [json.dumps(header).encode(), *parts[1:]]


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"v": 99}, "version"),
        ({"kind": "explode"}, "kind"),
        ({"w": 0}, "size"),
        ({"w": 100000}, "range"),
        ({"h": 18}, "plane"),
        ({"fmt": "yuv444p"}, "pixel format"),
        ({"strides": [10]}, "stride"),
        ({"tb": [1, 0]}, "time base"),
        ({"seq": -1}, "range"),
        ({"seq": "1"}, "type"),
        ({"pts": 1.5}, "type"),
        ({"seq": True}, "type"),
    ],
)
def test_bad_frame_headers_are_rejected(changes, match):
    _, parts = _frame_parts()
    with pytest.raises(p.ProtocolError, match=match):
        p.unpack(_mutate(parts, **changes))


@pytest.mark.parametrize(
    "parts",
    [[], [b"\xff\xfe"], [b"[1,2]"], [b"{}"], [b"x" * (p.MAX_HEADER_BYTES + 1)], [b'{"v":1,"kind":"frame"}']],
)
def test_garbage_is_a_protocol_error(parts):
    with pytest.raises(p.ProtocolError):
        p.unpack(parts)


def test_frame_buffer_size_must_match():
    img, parts = _frame_parts()
    with pytest.raises(p.ProtocolError, match="plane"):
        p.unpack([parts[0], bytes(10)])
    with pytest.raises(p.ProtocolError, match="plane"):
        p.unpack([parts[0]])


def test_ready_and_eos_validation():
    assert p.unpack(p.pack(p.READY, {"credit": 4, "done": [1, 2]})).header["credit"] == 4
    with pytest.raises(p.ProtocolError):
        p.unpack(p.pack(p.READY, {"credit": -1}))
    with pytest.raises(p.ProtocolError):
        p.unpack(p.pack(p.READY, {"credit": 1, "done": ["x"]}))
    with pytest.raises(p.ProtocolError):
        p.unpack(p.pack(p.EOS, {}))
    with pytest.raises(p.ProtocolError):
        p.unpack(p.pack(p.EOS, {"frames": 3}, [b"extra"]))


def test_dispatcher_credits_window_and_redispatch():
    d = ledger(max_inflight=4, window=6)
    assert not d.has_credit()
    d.on_message(b"A", p.pack(p.READY, {"credit": 3, "done": []}))
    d.on_message(b"B", p.pack(p.READY, {"credit": 3, "done": []}))
    sent = []
    for seq in range(10):
        if not d.can_send_new(seq):
            break
        w = d.pick_worker()
        d.inflight[seq] = (w, [])
        sent.append(w)
    assert len(sent) == 4  # bounded by max_inflight
    assert set(sent) == {b"A", b"B"}  # spread by credit
    # B finishes its frames, A's stay in flight: the seq window now bounds how far we run ahead
    d.on_message(b"B", p.pack(p.READY, {"credit": 2, "done": [s for s, (w, _) in d.inflight.items() if w == b"B"]}))
    assert all(w == b"A" for w, _ in d.inflight.values())
    oldest = min(d.inflight)
    assert d.can_send_new(oldest + 5) and not d.can_send_new(oldest + 6)
    # a worker that says BYE: its frames are queued again
    d.on_message(b"A", p.pack(p.BYE, {}))
    assert sorted(d.retry) == sorted(d.inflight) and b"A" not in d.credits
    # acknowledgements from a worker that does not hold the frame are ignored
    d.on_message(b"B", p.pack(p.READY, {"credit": 0, "done": list(d.inflight)}))
    assert d.inflight


def test_dispatcher_counts_bad_messages():
    d = ledger(4, 8)
    d.on_message(b"A", [b"garbage"])
    d.on_message(b"A", p.pack(p.EOS, {"frames": 1}))
    assert d.bad_messages == 2
