"""A shaped point-to-point link between two network namespaces (robot and base station).

``ip netns`` + a veth pair in the benchmarking range 198.18.0.0/15, a multicast
route for DDS discovery on each side, and a token-bucket filter (``tc qdisc tbf``)
on the robot's egress: what a thin WiFi/LTE uplink looks like to the robot. The
tbf queue (``latency``) lets delay build up before packets are dropped, as a
bufferbloated radio link does. Needs root and iproute2; everything it creates is
removed on exit.
"""
from __future__ import annotations

import os
import shutil
import subprocess


class NetnsError(RuntimeError):
    """The namespaces or the shaping could not be set up."""


def netns_available() -> str | None:
    """None when shaped namespaces can be made here, else the reason why not."""
    if os.geteuid() != 0:
        return "needs root (ip netns, tc)"
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "needs iproute2 (ip, tc)"
    return None


def _run(*cmd: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    if result.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)}: {result.stderr.strip()}")


class ShapedLink:
    """Context manager: two namespaces joined by a veth pair, robot->base rate-limited."""

    def __init__(self, rate_kbit: int, latency_ms: int = 300, tag: str | None = None,
                 subnet: int = 0) -> None:
        tag = tag or str(os.getpid() % 100000)
        self.robot, self.base = f"scr{tag}", f"scb{tag}"
        self.robot_if, self.base_if = f"vr{tag}", f"vb{tag}"
        self.robot_ip, self.base_ip = f"198.18.{subnet}.1", f"198.18.{subnet}.2"
        self.rate_kbit, self.latency_ms = rate_kbit, latency_ms

    def exec_prefix(self, side: str) -> list[str]:
        """Command prefix that runs a program inside ``side`` ('robot' or 'base')."""
        return ["ip", "netns", "exec", self.robot if side == "robot" else self.base]

    def _tbf(self, verb: str, rate_kbit: int) -> None:
        burst = max(4000, rate_kbit * 1000 // 8 // 50)  # ~20 ms of tokens
        _run("ip", "netns", "exec", self.robot, "tc", "qdisc", verb, "dev", self.robot_if,
             "root", "tbf", "rate", f"{rate_kbit}kbit", "burst", str(burst),
             "latency", f"{self.latency_ms}ms")

    def set_rate(self, rate_kbit: int) -> None:
        """Change the robot->base capacity while running."""
        self._tbf("change", rate_kbit)
        self.rate_kbit = rate_kbit

    def __enter__(self) -> ShapedLink:
        try:
            _run("ip", "netns", "add", self.robot)
            _run("ip", "netns", "add", self.base)
            _run("ip", "link", "add", self.robot_if, "type", "veth", "peer", "name", self.base_if)
            _run("ip", "link", "set", self.robot_if, "netns", self.robot)
            _run("ip", "link", "set", self.base_if, "netns", self.base)
            for ns, dev, ip in ((self.robot, self.robot_if, self.robot_ip),
                                (self.base, self.base_if, self.base_ip)):
                _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
                _run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ip}/30", "dev", dev)
                _run("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up", "multicast", "on")
                _run("ip", "netns", "exec", ns, "ip", "route", "add", "224.0.0.0/4", "dev", dev)
            self._tbf("add", self.rate_kbit)
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for ns in (self.robot, self.base):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
