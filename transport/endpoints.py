"""Self-describing ZeroMQ endpoints, Savant style: socket type, bind or connect, and transport in one string.

    dealer+connect:tcp://ingest:5555      a worker joining a dispatcher
    router+bind:tcp://127.0.0.1:5556      a standalone worker serving clients itself
    tcp://0.0.0.0:5555                    the type and direction come from the caller's default

`parse()` checks the grammar; `Endpoint.loopback` says whether traffic stays on this machine (ipc://,
inproc://, tcp:// on 127.0.0.0/8, ::1 or localhost). Anything else must use CurveZMQ (transport/keys.py).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import zmq

SOCKET_TYPES = {
    "dealer": zmq.DEALER,
    "router": zmq.ROUTER,
    "push": zmq.PUSH,
    "pull": zmq.PULL,
    "pair": zmq.PAIR,
}
_GRAMMAR = re.compile(r"^(?:(?P<type>[a-z]+)\+(?P<mode>bind|connect):)?(?P<url>(?P<transport>tcp|ipc|inproc)://(?P<addr>.+))$")
_LOOPBACK_NAMES = {"localhost", "lo", "ip6-localhost"}


class EndpointError(ValueError):
    """An endpoint string that does not follow the grammar."""


@dataclass(frozen=True)
class Endpoint:
    kind: str  # "dealer", "router", ...
    mode: str  # "bind" or "connect"
    url: str  # what zmq's bind()/connect() takes, e.g. tcp://127.0.0.1:5555
    transport: str  # tcp, ipc, inproc

    @property
    def loopback(self) -> bool:
        """True when no byte of this endpoint's traffic can leave the machine."""
        if self.transport in ("ipc", "inproc"):
            return True
        return all(_host_is_loopback(part) for part in self.url[len("tcp://"):].split(";"))

    def __str__(self) -> str:
        return f"{self.kind}+{self.mode}:{self.url}"



def parse(text: str, *, kind: str | None = None, mode: str | None = None, allowed: tuple[str, ...] = ()) -> Endpoint:
    """Parse `type+mode:url` (or a bare url, taking `kind` / `mode` as defaults). `allowed`: accepted `type+mode`."""
    m = _GRAMMAR.match(text.strip())
    if m is None:
        raise EndpointError(
            f"bad endpoint {text!r}: expected e.g. dealer+connect:tcp://host:5555 or router+bind:tcp://127.0.0.1:5556"
        )
    kind = m["type"] or kind
    mode = m["mode"] or mode
    if kind is None or mode is None:
        raise EndpointError(f"endpoint {text!r} needs a socket type and direction, e.g. dealer+connect:{m['url']}")
    if kind not in SOCKET_TYPES:
        raise EndpointError(f"endpoint {text!r}: unknown socket type {kind!r} (known: {', '.join(SOCKET_TYPES)})")
    if allowed and f"{kind}+{mode}" not in allowed:
        raise EndpointError(f"endpoint {text!r}: {kind}+{mode} is not supported here (use {' or '.join(allowed)})")
    transport, addr = m["transport"], m["addr"]
    if transport == "tcp":
        for part in addr.split(";"):
            host, sep, port = part.rpartition(":")
            if not sep or not host or not (port == "*" or (port.isdigit() and 0 < int(port) < 65536)):
                raise EndpointError(f"endpoint {text!r}: tcp needs host:port, e.g. tcp://127.0.0.1:5555")
    return Endpoint(kind, mode, m["url"], transport)


def _host_is_loopback(hostport: str) -> bool:
    host = hostport.rpartition(":")[0].strip("[]")
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or an interface: may leave the machine
