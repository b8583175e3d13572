"""A shaped point-to-point link between two network namespaces (robot and base station).

``ip netns`` + a veth pair in the benchmarking range 198.18.0.0/15, a multicast
route for DDS discovery on each side, and a token-bucket filter (``tc qdisc tbf``)
on the robot's egress: what a thin WiFi/LTE uplink looks like to the robot. The
tbf queue (``latency``) lets delay build up before packets are dropped, as a
bufferbloated radio link does. Needs root and iproute2; everything it creates is
removed on exit (namespaces, the veth pair with its qdiscs, and any process
still running inside the namespaces).

Rates change with ``tc qdisc change`` on the tbf. An outage (rate 0) cannot be a
tbf (rate 0 is refused, and a tiny rate still lets a 100-byte keep-alive
through): it replaces the root qdisc of *both* ends with ``blackhole``, which
drops every packet, ARP included (so neighbours are static); the link's return
puts the tbf back (``tc qdisc replace``) and the base's default qdisc. netem
(loss 100 %) would do too but is not built into every kernel (this VM's is not);
``ip link set down`` would also delete the routes DDS discovery needs.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess

#: name prefixes of the namespaces this module creates (tests check none is left)
PREFIXES = ("scr", "scb")


def leftover_namespaces() -> list[str]:
    """Namespaces named like ours that exist now."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(PREFIXES)]


# Fast DDS over UDPv4 only: no shared memory, so every sample crosses the shaped veth.
UDP_ONLY_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns="http://www.eprosima.com"><profiles>
  <transport_descriptors><transport_descriptor>
    <transport_id>udp</transport_id><type>UDPv4</type>
  </transport_descriptor></transport_descriptors>
  <participant profile_name="udp_only" is_default_profile="true"><rtps>
    <userTransports><transport_id>udp</transport_id></userTransports>
    <useBuiltinTransports>false</useBuiltinTransports>
  </rtps></participant>
</profiles></dds>
"""

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
        self._outage = False
        self._made: list[str] = []

    def exec_prefix(self, side: str) -> list[str]:
        """Command prefix that runs a program inside ``side`` ('robot' or 'base')."""
        return ["ip", "netns", "exec", self.robot if side == "robot" else self.base]

    def _tbf(self, verb: str, rate_kbit: int) -> None:
        burst = max(4000, rate_kbit * 1000 // 8 // 50)  # ~20 ms of tokens
        _run("ip", "netns", "exec", self.robot, "tc", "qdisc", verb, "dev", self.robot_if,
             "root", "handle", "1:", "tbf", "rate", f"{rate_kbit}kbit", "burst", str(burst),
             "latency", f"{self.latency_ms}ms")

    def set_rate(self, rate_kbit: int) -> None:
        """Change the robot->base capacity while running; 0 is an outage (both ways)."""
        if rate_kbit == 0:
            if not self._outage:
                for ns, dev in ((self.robot, self.robot_if), (self.base, self.base_if)):
                    _run("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev,
                         "root", "blackhole")
                self._outage = True
            self.rate_kbit = 0
            return
        if self._outage:
            self._tbf("replace", rate_kbit)
            _run("ip", "netns", "exec", self.base, "tc", "qdisc", "del", "dev", self.base_if,
                 "root")
            self._outage = False
        else:
            self._tbf("change", rate_kbit)
        self.rate_kbit = rate_kbit

    def _mac(self, ns: str, dev: str) -> str:
        out = subprocess.run(["ip", "-n", ns, "-o", "link", "show", dev], capture_output=True,
                             text=True, timeout=20).stdout.split()
        return out[out.index("link/ether") + 1]

    def __enter__(self) -> ShapedLink:
        if self.rate_kbit <= 0:
            raise NetnsError("the first rate must be > 0")
        try:
            for ns in (self.robot, self.base):
                _run("ip", "netns", "add", ns)
                self._made.append(ns)
            _run("ip", "link", "add", self.robot_if, "type", "veth", "peer", "name", self.base_if)
            self._made.append(self.robot_if)
            _run("ip", "link", "set", self.robot_if, "netns", self.robot)
            _run("ip", "link", "set", self.base_if, "netns", self.base)
            for ns, dev, ip in ((self.robot, self.robot_if, self.robot_ip),
                                (self.base, self.base_if, self.base_ip)):
                _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
                _run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ip}/30", "dev", dev)
                _run("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up", "multicast", "on")
                _run("ip", "netns", "exec", ns, "ip", "route", "add", "224.0.0.0/4", "dev", dev)
            # static neighbours: an outage drops ARP too, and the link must work at once after
            for ns, dev, ip, peer_ns, peer_dev in (
                    (self.robot, self.robot_if, self.base_ip, self.base, self.base_if),
                    (self.base, self.base_if, self.robot_ip, self.robot, self.robot_if)):
                _run("ip", "-n", ns, "neigh", "replace", ip, "lladdr",
                     self._mac(peer_ns, peer_dev), "dev", dev, "nud", "permanent")
            self._tbf("add", self.rate_kbit)
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for ns in (self.robot, self.base):
            if ns not in self._made:
                continue
            # processes still inside (ours: the namespaces are ours) would keep it alive
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                                  timeout=20).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        if self.robot_if in self._made:  # still in the root namespace if a move failed
            subprocess.run(["ip", "link", "del", self.robot_if], capture_output=True, timeout=20)
        self._made.clear()
