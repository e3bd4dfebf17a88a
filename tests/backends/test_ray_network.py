"""A local Ray speaks on loopback only and leaves nothing behind outside the run folder."""

from __future__ import annotations

import ipaddress
import time

import pytest

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")


def _loopback(ip: str) -> bool:
    a = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    return a.is_loopback


def test_every_socket_a_local_ray_opens_is_loopback(tmp_path):
    from seedbed.core.executors import ray_session

    me = psutil.Process()
    with ray_session(tmp_path) as ray:
        ray.get(ray.remote(lambda: 1).remote())                       # a worker up and talking
        time.sleep(1.0)
        seen, bad = 0, []
        for p in [me] + me.children(recursive=True):
            try:
                conns = p.net_connections(kind="inet")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            for c in conns:
                if c.status != psutil.CONN_LISTEN and not c.raddr:
                    continue
                seen += 1
                ends = [c.laddr.ip] + ([c.raddr.ip] if c.raddr else [])
                if not all(_loopback(ip) for ip in ends):
                    bad.append((p.name(), c.laddr, c.raddr, c.status))
        names = {p.name() for p in me.children(recursive=True)}
    assert seen > 3 and any("gcs" in n for n in names), names          # the check saw Ray's servers
    assert bad == [], bad
    assert (tmp_path / "ray").is_dir()                                  # Ray's temp folder is in the run folder


def test_the_loopback_check_rejects_a_network_address():
    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("::ffff:127.0.0.1")
    assert not _loopback("192.0.2.2") and not _loopback("::ffff:192.0.2.2") and not _loopback("169.254.169.254")
