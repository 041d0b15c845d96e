"""Remote workers on gfn-stream's command line: --listen (the endpoint gfn-worker processes on other machines
join), --key / --allow (its CurveZMQ keys), --worker-wait (how long a job waits for a worker); what they set in
RunConfig.pipeline, and the endpoint and its keys checked before anything starts. cli.py composes these."""

from __future__ import annotations

import argparse
import logging
import os

from .config import ConfigError, RunConfig

logger = logging.getLogger(__name__)

REMOTE_KEYS = ("listen", "key", "allow", "worker_wait_s")


def add_remote_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", metavar="ENDPOINT", help="let remote gfn-worker processes join, e.g. tcp://0.0.0.0:5555")
    p.add_argument("--key", metavar="FILE", help="CurveZMQ secret key of the --listen endpoint (gfn-keygen)")
    p.add_argument("--allow", metavar="DIR", help="directory of the public keys of workers allowed to join")
    p.add_argument("--worker-wait", dest="worker_wait_s", type=float, metavar="S",
                   help="with no worker left, how long a job waits before failing (default 30)")


def validate_listen(cfg: RunConfig) -> None:
    """A well-formed --listen endpoint, and CurveZMQ keys for any address off this machine."""
    pl = cfg.pipeline
    if not pl.listen:
        if pl.key or pl.allow:
            raise ConfigError("--key and --allow only apply with --listen")
        return
    from ..transport.endpoints import EndpointError, parse
    from ..transport.keys import SecurityError, require_keys

    try:
        ep = parse(pl.listen, kind="router", mode="bind", allowed=("router+bind",))
        require_keys(ep, pl.key, pl.allow, "--allow")
    except (EndpointError, SecurityError) as exc:
        raise ConfigError(f"--listen: {exc}") from None
    for path, what in ((pl.key, "--key"), (pl.allow, "--allow")):
        if path and not os.path.exists(path):
            raise ConfigError(f"{what}: {path} not found")
