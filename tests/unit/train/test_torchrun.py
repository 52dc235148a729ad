"""The torchrun wrapper's argument handling: which endpoints it keeps on loopback."""

from __future__ import annotations

import socket

import pytest

from pdfgc.train.torchrun import hold_loopback_store, loopback_host_port, rendezvous_endpoint, with_local_addr


@pytest.mark.parametrize("argv, expected", [
    (["--nnodes", "1", "--rdzv-endpoint", "127.0.0.1:2950", "-m", "x"], "127.0.0.1:2950"),
    (["--rdzv_endpoint=10.0.0.5:29500", "-m", "x"], "10.0.0.5:29500"),
    (["--nnodes", "1", "-m", "x"], None),
])
def test_the_rendezvous_endpoint_is_read_from_either_spelling(argv, expected) -> None:
    assert rendezvous_endpoint(argv) == expected


@pytest.mark.parametrize("endpoint, expected", [
    ("127.0.0.1:2950", ("127.0.0.1", 2950)),
    ("127.0.0.9:1", ("127.0.0.9", 1)),
    ("10.0.0.5:29500", None),
    ("node-0.cluster:29500", None),
    ("127.0.0.1", None),
    (None, None),
])
def test_only_loopback_addresses_are_kept_on_loopback(endpoint, expected) -> None:
    assert loopback_host_port(endpoint) == expected


def test_the_node_address_is_added_unless_given() -> None:
    assert with_local_addr(["--nnodes", "1"], "127.0.0.1") == ["--local-addr", "127.0.0.1", "--nnodes", "1"]
    assert with_local_addr(["--local-addr", "x", "--nnodes", "1"], "127.0.0.1")[:2] == ["--local-addr", "x"]


def test_the_held_store_listens_on_loopback_and_a_second_launcher_steps_aside() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = hold_loopback_store("127.0.0.1", port)
    assert store is not None and store.port == port
    store.set("key", "value")
    assert store.get("key") == b"value"
    assert hold_loopback_store("127.0.0.1", port) is None
    with socket.socket() as outside, pytest.raises(OSError):
        outside.bind(("0.0.0.0", port))
