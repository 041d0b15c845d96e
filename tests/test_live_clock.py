"""A live input's clock (media/live_clock.py), directly, without threads or a camera: the output timeline across
reconnects and clock jumps, frames without timestamps, the max_fps limit and the resize policy."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

from gfn_stream.media.live_clock import MAX_FORWARD_JUMP_S, TICKS, LiveClock, side_timestamps

TB = Fraction(1, 90000)  # the camera's time base (RTSP video)


def connection():
    return SimpleNamespace(offset=None)  # what live_connection keeps per connection


def test_the_first_frame_is_at_zero_and_the_camera_clock_is_followed():
    clock = LiveClock("cam")
    clock.start(wall=50.0)
    conn = connection()
    assert clock.video_pts(conn, 123_000, TB, wall=50.0) == 0  # whatever the camera's own start
    assert clock.video_pts(conn, 126_000, TB, wall=50.04) == 3000
    assert clock.video_pts(conn, 129_000, TB, wall=50.5) == 6000  # late delivery: still the camera's time


def test_a_reconnection_is_anchored_to_the_wall_clock_and_never_goes_back():
    clock = LiveClock("cam")
    clock.start(wall=0.0)
    first = connection()
    clock.video_pts(first, 0, TB, wall=0.0)
    clock.video_pts(first, 90_000, TB, wall=1.0)
    again = connection()  # the camera restarted its clock at 0 after a 5 s outage
    assert clock.video_pts(again, 0, TB, wall=6.0) == 6 * TICKS  # the gap shows at its real length
    assert clock.video_pts(again, 3000, TB, wall=6.03) == 6 * TICKS + 3000


def test_clock_jumps_are_re_anchored_and_repeated_pts_bumped():
    clock = LiveClock("cam")
    clock.start(wall=0.0)
    conn = connection()
    clock.video_pts(conn, 900_000, TB, wall=0.0)
    clock.video_pts(conn, 903_000, TB, wall=0.04)
    back = clock.video_pts(conn, 0, TB, wall=0.08)  # the camera clock jumped back 10 s
    assert back > 3000
    ahead = clock.video_pts(conn, 3000 + round((MAX_FORWARD_JUMP_S + 5) * TICKS), TB, wall=0.12)
    assert back < ahead < back + TICKS  # a jump far ahead is re-anchored to the wall clock too
    same = clock.video_pts(conn, 3000 + round((MAX_FORWARD_JUMP_S + 5) * TICKS), TB, wall=0.16)
    assert same == ahead + 1 and clock.pts_fixed == 1  # a pts that would not increase


def test_frames_without_timestamps_take_the_wall_clock_then_the_frame_step():
    clock = LiveClock("cam")
    clock.set_rate(Fraction(30))
    clock.start(wall=10.0)
    conn = connection()
    assert clock.video_pts(conn, None, None, wall=10.5) == TICKS // 2
    conn.offset = 0  # a connection that has started: one frame step on
    assert clock.video_pts(conn, None, None, wall=10.6) == TICKS // 2 + TICKS // 30


def test_max_fps_keeps_frames_by_camera_time_with_a_little_slack():
    clock = LiveClock("cam", max_fps=10)
    step = TICKS // 30  # a 30 fps camera
    kept = [clock.keep_for_rate(i * step) for i in range(30)]
    assert sum(kept) == 10 and kept[0] and kept[3] and not kept[1]
    assert LiveClock("cam").keep_for_rate(0)  # no limit


def test_a_resized_camera_is_scaled_back_or_starts_a_segment():
    scale = LiveClock("cam", on_resize="scale")
    assert scale.target_size(640, 480) is None  # before the first frame fixed the size
    scale.set_size(640, 480)
    assert scale.target_size(640, 480) is None
    assert scale.target_size(320, 240) == (640, 480) and scale.target_size(320, 240) == (640, 480)
    assert scale.resolution_changes == 1  # counted once, not per frame
    seg = LiveClock("cam", on_resize="segment")
    seg.set_size(640, 480)
    assert seg.target_size(320, 240) is None and seg.size == (320, 240)
    assert seg.take_new_segment() and not seg.take_new_segment()


def test_side_packets_move_with_their_connection():
    assert side_timestamps(TICKS, 48_000, None, Fraction(1, 48_000)) == (96_000, 96_000)  # one second later
    assert side_timestamps(0, 10, 8, Fraction(1, 1000)) == (10, 8)
