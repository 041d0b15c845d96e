"""CurveZMQ for endpoints that leave the machine: key pairs, a server with an allow-list, clients that know the
server's public key.

    gfn-keygen keys/ --name server          keys/server.key (public) + keys/server.key_secret (mode 0600)
    gfn-keygen keys/ --name worker1         one pair per worker; copy worker1.key into the server's allow dir

A server (the pipeline's --listen ROUTER, or `gfn-worker router+bind:...`) loads its own secret certificate
(`--key server.key_secret`) and accepts only clients whose public certificate is in the allow directory
(`--allow DIR`, re-read when the directory changes). A client loads its own secret certificate (`--key`) and
the server's public one (`--server-key server.key`). The certificate files are zmq.auth's text format.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from .endpoints import Endpoint
from .liveness import DropLog

logger = logging.getLogger(__name__)


class SecurityError(ValueError):
    """Missing or unreadable key files, or a non-loopback endpoint without keys."""


def require_keys(ep: Endpoint, key: str | None, peer: str | None, peer_option: str) -> None:
    """Refuse an endpoint that leaves the machine without CurveZMQ keys (own secret + allow-list/server key)."""
    if ep.loopback:
        if bool(key) != bool(peer) and (key or peer):
            raise SecurityError(f"CurveZMQ needs both --key and {peer_option} (got only one)")
        return
    if not key or not peer:
        raise SecurityError(
            f"{ep.url} is not a loopback address: it needs CurveZMQ keys (--key and {peer_option}; "
            "make them with gfn-keygen)"
        )


def _load(path: str, secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, secret_key = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot read the key file {path}: {exc}") from None
    if secret and not secret_key:
        raise SecurityError(f"{path} holds no secret key (use the .key_secret file made by gfn-keygen)")
    return public, secret_key


def server_socket(ctx: zmq.Context, sock: zmq.Socket, key: str, allow: str) -> ThreadAuthenticator:
    """Make `sock` a CURVE server (before bind) accepting only the public keys in `allow`; returns the
    running authenticator (stop it when the socket closes)."""
    public, secret = _load(key, secret=True)
    if not os.path.isdir(allow):
        raise SecurityError(f"the allow-list {allow} is not a directory of client public keys")
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True
    auth = ThreadAuthenticator(ctx, log=logger.getChild("auth"))
    auth.start()
    auth.configure_curve_callback(domain="*", credentials_provider=AllowList(allow))
    return auth


def client_socket(sock: zmq.Socket, key: str, server_key: str) -> None:
    """Make `sock` a CURVE client (before connect) with its own key pair and the server's public key."""
    public, secret = _load(key, secret=True)
    server_public, _ = _load(server_key, secret=False)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_serverkey = server_public


class AllowList:
    """The client public keys in a directory (*.key files), re-read when the directory changes, so a new worker
    can be allowed during a run by copying its .key file in."""

    def __init__(self, directory: str):
        self.directory = Path(directory)
        self._stamp: tuple[int, ...] = ()
        self._keys: set[bytes] = set()
        self.refused = DropLog(logger, "refused a peer whose key is not in the allow-list", first=10)
        self._reload()

    def _reload(self) -> None:
        files = sorted(self.directory.glob("*.key"))
        stamp = tuple(f.stat().st_mtime_ns for f in files) + (self.directory.stat().st_mtime_ns, len(files))
        if stamp == self._stamp:
            return
        keys = set()
        for f in files:
            try:
                public, _ = zmq.auth.load_certificate(f)
                keys.add(public)
            except (OSError, ValueError) as exc:
                logger.warning("skipping unreadable key file %s: %s", f, exc)
        self._keys, self._stamp = keys, stamp

    def callback(self, domain: str, key: bytes) -> bool:
        try:
            self._reload()
        except OSError as exc:
            logger.warning("cannot read the allow-list %s: %s", self.directory, exc)
        allowed = key in self._keys
        if not allowed:
            self.refused(key.decode(errors="replace"))
        return allowed


_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@-]{0,99}")


def check_key_name(name: str) -> None:
    """A key name is a plain file name stem: no path separators (it must not write outside DIR), not empty,
    no leading dot (hidden files) or dash."""
    if not _KEY_NAME.fullmatch(name):
        raise SecurityError(
            f"bad key name {name!r}: use 1-100 letters, digits, '.', '_', '-', '+' or '@', starting with a letter or "
            "digit (no '/', no leading dot)")


def keygen(directory: str | Path, name: str, overwrite: bool = False) -> tuple[Path, Path]:
    """Write DIR/NAME.key (public) and DIR/NAME.key_secret (secret, mode 0600). Returns both paths."""
    check_key_name(name)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    public, secret = d / f"{name}.key", d / f"{name}.key_secret"
    if not overwrite and (public.exists() or secret.exists()):
        raise SecurityError(f"{public} or {secret} exists already (refusing to overwrite keys)")
    old = os.umask(0o077)
    try:
        pub_path, sec_path = zmq.auth.create_certificates(str(d), name)
    finally:
        os.umask(old)
    os.chmod(sec_path, 0o600)
    os.chmod(pub_path, 0o644)
    return Path(pub_path), Path(sec_path)


def main(argv: list[str] | None = None) -> int:
    """`gfn-keygen DIR [--name NAME ...]`: CurveZMQ key pairs for gfn-stream servers and workers."""
    p = argparse.ArgumentParser(prog="gfn-keygen", description="Write CurveZMQ key pairs (NAME.key, NAME.key_secret).")
    p.add_argument("directory", help="where to write the key files (created if missing)")
    p.add_argument("--name", action="append", help="key pair name (repeatable; default: server)")
    p.add_argument("--force", action="store_true", help="overwrite existing key files")
    args = p.parse_args(argv)
    if not zmq.has("curve"):
        print("gfn-keygen: error: this libzmq was built without CurveZMQ (libsodium)", file=sys.stderr)
        return 2
    names = args.name or ["server"]
    try:
        for name in names:  # all of them before any file is written
            check_key_name(name)
    except SecurityError as exc:
        print(f"gfn-keygen: error: {exc}", file=sys.stderr)
        return 2
    for name in names:
        try:
            pub, sec = keygen(args.directory, name, overwrite=args.force)
        except SecurityError as exc:
            print(f"gfn-keygen: error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename and str(exc.filename) != args.directory else ""
            print(f"gfn-keygen: error: cannot write keys in {args.directory}: {where}{exc.strerror or exc}",
                  file=sys.stderr)
            return 2
        print(f"{pub}  (public: give it to peers)\n{sec}  (secret: keep it here)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
