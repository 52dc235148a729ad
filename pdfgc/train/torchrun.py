"""``python -m pdfgc.train.torchrun ARGS``: torchrun, with a loopback rendezvous kept on loopback.

torchrun listens on two TCP stores, both on every interface whatever host the endpoint names:
the c10d rendezvous store, and the store it then opens for the ranks' process group. When the
endpoint's host is a loopback address, this wrapper
- opens the rendezvous store's listening socket on that address first and starts a multi-tenant
  TCPStore on it, so the rendezvous gets that same server (a process keeps one multi-tenant
  server per port) instead of binding the wildcard address;
- has the rendezvous handler open the ranks' store on a socket it bound to that address too
  (``DynamicRendezvousHandler._create_tcp_store_server``), and names that address as the
  node's (``--local-addr``), so the ranks connect there.
Other endpoints, the multi-node case, are left to torchrun: they listen where the operator's
network allows.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from datetime import timedelta

import torch.distributed as dist
from torch.distributed.elastic.rendezvous.dynamic_rendezvous import DynamicRendezvousHandler
from torch.distributed.run import main as torchrun_main

STORE_BACKLOG = 2048
STORE_TIMEOUT = timedelta(seconds=900)


def rendezvous_endpoint(argv: list[str]) -> str | None:
    """The value of ``--rdzv-endpoint`` (``--rdzv_endpoint``, ``=`` form too), None if absent."""
    for index, arg in enumerate(argv):
        for flag in ("--rdzv-endpoint", "--rdzv_endpoint"):
            if arg == flag and index + 1 < len(argv):
                return argv[index + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
    return None


def loopback_host_port(endpoint: str | None) -> tuple[str, int] | None:
    """``(host, port)`` when the endpoint names a loopback IPv4 address and a port, else None."""
    if not endpoint or ":" not in endpoint:
        return None
    host, _, port = endpoint.rpartition(":")
    try:
        return (host, int(port)) if ipaddress.ip_address(host).is_loopback else None
    except ValueError:
        return None


_held: list[object] = []
"""Listening sockets and stores that must live as long as the launcher."""


def _store_on(host: str, port: int) -> dist.TCPStore:
    """A multi-tenant TCPStore server whose socket listens on ``host:port`` only (0: any port)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(STORE_BACKLOG)
    store = dist.TCPStore(host, listener.getsockname()[1], is_master=True, multi_tenant=True,
                          master_listen_fd=listener.fileno(), wait_for_workers=False, timeout=STORE_TIMEOUT)
    _held.extend((listener, store))
    return store


def hold_loopback_store(host: str, port: int) -> dist.TCPStore | None:
    """The rendezvous store on ``host:port`` only; None when another launcher on this machine (a
    second node on loopback) already hosts it."""
    try:
        return _store_on(host, port)
    except OSError:
        return None


def _ranks_store_on_loopback(host: str) -> None:
    """The ranks' process-group store listens on ``host`` (torchrun's own binds every interface)."""

    def create(self: DynamicRendezvousHandler, master_addr: str, master_port: int) -> dist.TCPStore:
        return _store_on(host, master_port)

    DynamicRendezvousHandler._create_tcp_store_server = create


def with_local_addr(argv: list[str], host: str) -> list[str]:
    """``argv`` naming ``host`` as this node's address unless it names one already."""
    if any(arg.startswith(("--local-addr", "--local_addr")) for arg in argv):
        return argv
    return ["--local-addr", host, *argv]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    loopback = loopback_host_port(rendezvous_endpoint(argv))
    if loopback:
        host, port = loopback
        hold_loopback_store(host, port)
        _ranks_store_on_loopback(host)
        argv = with_local_addr(argv, host)
    torchrun_main(argv)


if __name__ == "__main__":
    main()
