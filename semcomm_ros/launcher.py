"""Start the node graph as separate processes, from the same config as the launch files.

The pip environment has no ``ros2 launch`` (no launch/launch_ros wheels), so
``semcomm run`` and ``semcomm demo`` use this small process launcher instead.
It starts each node exactly as ``launch/*.launch.py`` does: its own process,
``--ros-args --params-file config/semcomm.yaml`` plus per-node overrides.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from semcomm_ros.config import DEFAULT_CONFIG

#: role -> nodes (module names under semcomm_ros.nodes), as in launch/*.launch.py
ROLES = {
    "robot": ["encoder_node"],
    "base": ["link_monitor_node", "decoder_node"],
    "all": ["encoder_node", "link_monitor_node", "decoder_node"],
}


def ros_value(value) -> str:
    """A Python value as a ``-p name:=value`` literal (YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(ros_value(v) for v in value) + "]"
    return repr(value)


@dataclass
class NodeProcess:
    """One node to start: module name and parameter overrides."""

    node: str
    overrides: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def command(self, config: Path) -> list[str]:
        """The command line that starts this node."""
        cmd = [sys.executable, "-m", f"semcomm_ros.nodes.{self.node}", "--ros-args",
               "--params-file", str(config)]
        for name, value in self.overrides.items():
            cmd += ["-p", f"{name}:={ros_value(value)}"]
        return cmd


class Graph:
    """A set of node processes started and stopped together."""

    def __init__(self, nodes: list[NodeProcess], config: str | Path | None = None,
                 domain_id: int | None = None, log_dir: Path | None = None) -> None:
        self.nodes = nodes
        self.config = Path(config) if config else DEFAULT_CONFIG
        self.env = dict(os.environ)
        if domain_id is not None:
            self.env["ROS_DOMAIN_ID"] = str(domain_id)
        self.log_dir = log_dir
        self._logs: list = []

    def start(self) -> None:
        """Start every node; stdout/stderr go to log_dir/<node>.log when set."""
        for n in self.nodes:
            out = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                out = open(self.log_dir / f"{n.node}.log", "w")  # noqa: SIM115
                self._logs.append(out)
            n.process = subprocess.Popen(n.command(self.config), env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT if out else None,
                                         start_new_session=True)

    def failed(self) -> list[str]:
        """Nodes whose process has exited."""
        return [n.node for n in self.nodes if n.process and n.process.poll() is not None]

    def wait(self) -> int:
        """Block until a node exits or Ctrl-C; returns the first non-zero exit code."""
        try:
            while not self.failed():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
        return max((abs(n.process.returncode or 0) for n in self.nodes if n.process), default=0)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT every node, then SIGKILL what is still alive after ``timeout``."""
        for n in self.nodes:
            if n.process and n.process.poll() is None:
                os.killpg(n.process.pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        for n in self.nodes:
            if n.process is None:
                continue
            try:
                n.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(n.process.pid, signal.SIGKILL)
                n.process.wait()
        for f in self._logs:
            f.close()
        self._logs.clear()

    def __enter__(self) -> Graph:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
