"""The decoder's credit ledger (nodes/dispatch.py Dispatcher), directly, without sockets: credits granted and
spent, frames owned until acknowledged, what a departed worker held sent again, silent and lying workers
dropped. Messages are built with transport/protocol.py as a worker would send them."""

from __future__ import annotations

import time

from workers_kit import ledger

from gfn_stream.nodes import dispatch
from gfn_stream.nodes.dispatch import Dispatcher
from gfn_stream.nodes.settings import CreditSettings
from gfn_stream.transport import protocol as p

L1, L2, R1 = b"L\x01", b"L\x02", b"R\x01"  # two local workers and a remote one (first byte: which ROUTER)


def ready(d: Dispatcher, worker: bytes, credit: int, done=(), hello: bool = False) -> None:
    header = {"credit": credit, "done": list(done), **({"hello": True} if hello else {})}
    d.on_message(worker, p.pack(p.READY, header))


def send(d: Dispatcher, seq: int) -> bytes:
    worker = d.pick_worker()
    d.assign(seq, worker, [f"frame {seq}".encode()])
    return worker


def test_settings_reach_the_ledger():
    d = Dispatcher(CreditSettings(3, 9, heartbeat_s=0.5, liveness=4, answer_s=2.0, answer_factor=3.0,
                                  retain=5))
    assert (d.max_inflight, d.window, d.patience, d.retain) == (3, 9, 2.0, 5)


def test_credit_is_spent_per_frame_shared_round_robin_and_capped():
    d = ledger(8, 32)
    ready(d, L1, 2)
    ready(d, L2, 2)
    assert [send(d, s) for s in range(4)] == [L1, L2, L1, L2]  # most credit first, ties in turn
    assert not d.has_credit() and not d.can_send_new(4)
    for _ in range(dispatch.MAX_CREDIT // p.MAX_BATCH_CREDIT + 1):  # each message at most MAX_BATCH_CREDIT
        ready(d, L1, p.MAX_BATCH_CREDIT)
    assert d.credits[L1] == dispatch.MAX_CREDIT  # a worker cannot hoard frames


def test_the_inflight_and_seq_windows_bound_how_far_decoding_runs_ahead():
    d = ledger(max_inflight=2, window=3)
    ready(d, L1, 8)
    send(d, 0)
    send(d, 1)
    assert not d.can_send_new(2)  # two out: max_inflight
    ready(d, L1, 0, done=[1])
    assert d.can_send_new(2) and not d.can_send_new(3)  # frame 0 still out: at most 3 seqs from it
    assert d.busy()


def test_a_dead_local_worker_loses_what_it_held_and_what_it_finished_last():
    d = ledger(8, 32, retain=2)
    ready(d, L1, 4)
    for seq in range(4):
        send(d, seq)
    ready(d, L1, 0, done=[0, 1, 2])  # its results went to its PUSH socket, which may die with it
    assert list(d.inflight) == [3]
    d.drop_worker(L1)
    assert sorted(d.retry) == [1, 2, 3]  # held 3; the last retain=2 it finished (1, 2); 0 is safe by now
    assert d.next_retry() in (1, 2, 3) and d.lost_workers == 1
    ready(d, L1, 1)  # a dropped worker must say hello again: silence, no credit
    assert L1 not in d.credits
    ready(d, L1, 1, hello=True)
    assert d.credits[L1] == 1


def test_frames_re_sent_are_a_warning_only_while_another_worker_takes_them(caplog):
    d = ledger(8, 32)
    ready(d, L1, 2)
    ready(d, L2, 2)
    send(d, 0)  # to L1 (ties: the first registered)
    send(d, 1)  # to L2
    with caplog.at_level("INFO", logger="gfn_stream.nodes.roster"):
        d.drop_worker(L1)  # L2 is there to take frame 0
        d.drop_worker(L2)  # nobody is: the launcher decides, the decoder says it at info level only
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert said == [("WARNING", "worker local 01 left holding 1 frame(s); sending them again"),
                    ("INFO", "worker local 02 left holding 1 frame(s); they go to the next worker that joins")], said
    assert sorted(d.retry) == [0, 1]


def test_a_worker_that_says_bye_loses_only_what_it_still_held():
    d = ledger(8, 32, retain=4)
    ready(d, L1, 3)
    for seq in range(3):
        send(d, seq)
    ready(d, L1, 0, done=[0])
    d.on_message(L1, p.pack(p.BYE))
    assert sorted(d.retry) == [1, 2]  # BYE comes after its last results: frame 0 is safe


def test_acknowledgements_only_count_from_the_owner():
    d = ledger(8, 32)
    ready(d, L1, 1)
    ready(d, L2, 1)
    owner = send(d, 0)
    other = L2 if owner == L1 else L1
    ready(d, other, 0, done=[0])
    assert 0 in d.inflight
    ready(d, owner, 0, done=[0])
    assert 0 not in d.inflight


def test_a_remote_worker_reporting_done_without_a_result_is_banned():
    d = ledger(8, 32)
    ready(d, R1, 1)
    send(d, 0)
    ready(d, R1, 1, done=[0])
    assert R1 not in d.credits and R1 in d.banned and d.bad_workers == 1
    assert list(d.retry) == [0]
    ready(d, R1, 1, hello=True)
    assert R1 not in d.credits  # never taken back


def test_a_silent_worker_expires_and_its_frames_go_again():
    d = ledger(8, 32, heartbeat_s=0.1, liveness=3)
    ready(d, L1, 1)
    ready(d, L2, 1)
    send(d, 0)
    d.heard[L1] = d.heard[L2] = time.monotonic() - 1.0  # both silent for longer than 0.3 s
    assert sorted(d.expire()) == [L1, L2]
    assert not d.credits and list(d.retry) == [0]


def test_bad_and_unexpected_messages_are_counted_not_fatal():
    d = ledger(4, 8)
    d.on_message(L1, [b"garbage"])
    d.on_message(L1, p.pack(p.EOS, {"frames": 1}))
    assert d.bad_messages == 2 and not d.credits
