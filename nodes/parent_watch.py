"""A pipeline node never outlives its launcher: on Linux the kernel sends it SIGTERM the moment the launcher
dies (prctl PR_SET_PDEATHSIG; even after kill -9), elsewhere a thread notices within POLL_S. Either way the
node's stop flag is set with the reason LAUNCHER_GONE: nobody takes its output any more, so it stops at once
(see StopFlag.abandoned) instead of finishing its frames, and exits for sure after GIVE_UP_S."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)
LAUNCHER_GONE = "launcher gone"
POLL_S = 0.2
GIVE_UP_S = 5.0  # a stop normally takes far less; then exit regardless
_PR_SET_PDEATHSIG = 1


def die_with_parent(stop: Any, exit_code: int) -> None:
    """Call first thing in a node process (spawned by the launcher); `stop` is its StopFlag."""
    parent = os.getppid()
    _set_pdeathsig(signal.SIGTERM)
    threading.Thread(target=_watch, args=(parent, stop, exit_code), daemon=True, name="parent-watch").start()


def parent_gone(parent: int) -> bool:
    return os.getppid() != parent


def set_pdeathsig(sig: int) -> bool:
    """Have the kernel send `sig` to this process when its parent dies (Linux; False elsewhere)."""
    return _set_pdeathsig(sig)


def _set_pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, stop: Any, exit_code: int) -> None:
    while not parent_gone(parent):
        time.sleep(POLL_S)
    stop.set, stop.reason = True, LAUNCHER_GONE
    time.sleep(GIVE_UP_S)
    os._exit(exit_code)
