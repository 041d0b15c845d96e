"""Imported by multiprocessing's fork server (processes.PRELOAD, first): the server dies with the launcher, so the
nodes it forked do too. The server would otherwise stay while any node holds its "alive" pipe, and a node's own
guard (nodes/parent_watch.py: PR_SET_PDEATHSIG and a watch of getppid) is about its parent, the server. Chain on
kill -9 of the launcher: the kernel kills the server (SIGKILL), then sends each node SIGTERM (their parent died)
and the nodes stop at once (StopFlag: launcher gone).

Only the server of this launcher acts on it: the launcher names itself in GFN_STREAM_FORK_PARENT before the
server starts; anywhere else importing this module does nothing."""

from __future__ import annotations

import logging
import os
import signal

from ..nodes.parent_watch import set_pdeathsig

logger = logging.getLogger(__name__)
ENV = "GFN_STREAM_FORK_PARENT"


def mark_launcher() -> None:
    """In the launcher, before its fork server starts."""
    os.environ[ENV] = str(os.getpid())


if os.environ.get(ENV) == str(os.getppid()):  # the fork server of the launcher that set it
    set_pdeathsig(signal.SIGKILL)
