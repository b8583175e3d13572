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
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from semcomm_ros.config import (
    DECODER_NODE,
    DEFAULT_CONFIG,
    ENCODER_NODE,
    LINK_MONITOR_NODE,
    RECORDER_NODE,
    SOURCE_NODE,
    dds_environment,
)

#: role -> nodes (module names under semcomm_ros.nodes), as in launch/*.launch.py
ROLES = {
    "robot": ["encoder_node"],
    "base": ["link_monitor_node", "decoder_node"],
    "all": ["encoder_node", "link_monitor_node", "decoder_node"],
}


#: node module -> node name (= its section in the parameter file)
NODE_NAMES = {
    "source_node": SOURCE_NODE,
    "encoder_node": ENCODER_NODE,
    "link_monitor_node": LINK_MONITOR_NODE,
    "decoder_node": DECODER_NODE,
    "recorder_node": RECORDER_NODE,
}


def overrides_file(node: str, overrides: dict, folder: Path) -> Path:
    """Write ``overrides`` as a parameter file section of ``node``.

    A second ``--params-file`` is used rather than ``-p name:=value``: rcl gives
    ``-p`` values the ``/**`` wildcard, and a node's own section in the first
    file would win over them.
    """
    tree: dict = {}
    for name, value in overrides.items():
        *parents, leaf = name.split(".")
        sub = tree
        for p in parents:
            sub = sub.setdefault(p, {})
        sub[leaf] = list(value) if isinstance(value, tuple) else value
    path = folder / f"{node}.overrides.yaml"
    path.write_text(yaml.safe_dump({NODE_NAMES[node]: {"ros__parameters": tree}}))
    return path


@dataclass
class NodeProcess:
    """One node to start: module name and parameter overrides."""

    node: str
    overrides: dict = field(default_factory=dict)
    prefix: list[str] = field(default_factory=list)  # e.g. ["ip", "netns", "exec", "robot"]
    process: subprocess.Popen | None = None

    def command(self, config: Path, folder: Path) -> list[str]:
        """The command line that starts this node (override file written to ``folder``)."""
        cmd = [*self.prefix, sys.executable, "-m", f"semcomm_ros.nodes.{self.node}",
               "--ros-args", "--params-file", str(config)]
        if self.overrides:
            cmd += ["--params-file", str(overrides_file(self.node, self.overrides, folder))]
        return cmd


class Graph:
    """A set of node processes started and stopped together."""

    def __init__(self, nodes: list[NodeProcess], config: str | Path | None = None,
                 domain_id: int | None = None, log_dir: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.nodes = nodes
        self.config = Path(config) if config else DEFAULT_CONFIG
        self.env = dds_environment({**os.environ, **(env or {})})
        if domain_id is not None:
            self.env["ROS_DOMAIN_ID"] = str(domain_id)
        self.log_dir = log_dir
        self._logs: list = []
        self._tmp = tempfile.TemporaryDirectory(prefix="semcomm-graph-")

    def start(self) -> None:
        """Start every node; stdout/stderr go to log_dir/<node>.log when set."""
        for n in self.nodes:
            out = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                out = open(self.log_dir / f"{n.node}.log", "w")  # noqa: SIM115
                self._logs.append(out)
            cmd = n.command(self.config, Path(self._tmp.name))
            n.process = subprocess.Popen(cmd, env=self.env, stdout=out, start_new_session=True,
                                         stderr=subprocess.STDOUT if out else None)

    def failed(self) -> list[str]:
        """Nodes whose process has exited."""
        return [n.node for n in self.nodes if n.process and n.process.poll() is not None]

    def wait(self) -> int:
        """Block until a node exits, Ctrl-C or SIGTERM; returns the first non-zero exit code.

        The nodes run in sessions of their own (a terminal's Ctrl-C reaches them once, from
        here), so SIGINT and SIGTERM are caught explicitly, whatever this process inherited
        (a background job of a non-interactive shell starts with SIGINT ignored): either
        stops the graph cleanly instead of leaving its nodes running.
        """
        def interrupt(signum, frame):
            raise KeyboardInterrupt(signal.Signals(signum).name)

        previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not self.failed():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for s in previous:  # a second signal must not cut the clean stop short
                signal.signal(s, signal.SIG_IGN)
            self.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
        return max((abs(n.process.returncode or 0) for n in self.nodes if n.process), default=0)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every node (rclpy shuts down cleanly), SIGKILL what is left after ``timeout``."""
        for n in self.nodes:
            if n.process and n.process.poll() is None:
                os.killpg(n.process.pid, signal.SIGTERM)
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
