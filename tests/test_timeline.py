"""media/timeline.py: one output timeline for all streams (origin = earliest start of the kept streams)."""

from __future__ import annotations

from fractions import Fraction

from gfn_stream.media.packets import Packet
from gfn_stream.media.timeline import Timeline


def info(video_start, audio_start, *, live=False, video_tb=(1, 90000), audio_tb=(1, 90000), start_pts=None):
    return {"is_live": live, "time_base": list(video_tb), "start_time": video_start,
            "start_pts": video_start if start_pts is None else start_pts,
            "side_streams": [{"index": 1, "time_base": list(audio_tb), "start_time": audio_start}]}


def packet(pts, tb=Fraction(1, 90000)):
    return Packet(stream=1, pts=pts, dts=pts, duration=1920, time_base=tb, is_keyframe=True, data=b"x")


def test_ts_with_a_start_offset_starts_at_the_earliest_stream():
    tl = Timeline.from_info(info(900000, 898080), keep=[1])  # video 10 s, audio 9.9787 s (priming in TS)
    assert tl.origin == Fraction(898080, 90000)
    assert tl.shift(900000, Fraction(1, 90000)) == 1920  # video keeps its 21.3 ms after the audio
    assert tl.packet(packet(898080)).pts == 0 and tl.packet(packet(898080)).dts == 0
    assert tl.packet(packet(898080)).data == b"x"


def test_video_that_starts_late_keeps_its_offset():
    tl = Timeline.from_info(info(500, 0, video_tb=(1, 1000), audio_tb=(1, 48000)), keep=[1])
    assert tl.origin == 0
    assert tl.shift(500, Fraction(1, 1000)) == 500
    assert tl.packet(packet(-1024, Fraction(1, 48000))).pts == -1024  # priming stays before 0 (edit list)


def test_origin_uses_start_times_in_their_own_time_bases():
    tl = Timeline.from_info(info(2000, 3 * 48000, video_tb=(1, 1000), audio_tb=(1, 48000)), keep=[1])
    assert tl.origin == 2  # video at 2 s, audio at 3 s
    assert tl.shift(2000, Fraction(1, 1000)) == 0 and tl.packet(packet(3 * 48000, Fraction(1, 48000))).pts == 48000


def test_dropped_streams_do_not_move_the_origin():
    tl = Timeline.from_info(info(900000, 0), keep=[])  # the audio is not written
    assert tl.origin == 10 and tl.shift(900000, Fraction(1, 90000)) == 0


def test_first_frame_earlier_than_the_stream_start_counts():
    tl = Timeline.from_info(info(9000, 9000, start_pts=4500), keep=[1])
    assert tl.origin == Fraction(4500, 90000)


def test_live_and_missing_starts_are_the_identity():
    assert Timeline.from_info(info(900000, 900000, live=True), keep=[1]).origin == 0
    tl = Timeline.from_info(info(None, None), keep=[1])
    assert tl.origin == 0 and tl.shift(1234, Fraction(1, 25)) == 1234
    p = packet(5)
    assert tl.packet(p) is p
    assert Timeline(Fraction(1)).shift(None, Fraction(1, 25)) is None
