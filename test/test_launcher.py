import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from semcomm_ros.config import load_sections
from semcomm_ros.launcher import NodeProcess, overrides_file


def test_overrides_go_to_a_second_params_file_under_the_node_name(tmp_path, repo):
    n = NodeProcess("decoder_node", {"reconstruction.backend": "none", "qos.image_depth": 2})
    cmd = n.command(repo / "config" / "semcomm.yaml", tmp_path)
    assert cmd[1:3] == ["-m", "semcomm_ros.nodes.decoder_node"]
    files = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--params-file"]
    assert files[0].endswith("semcomm.yaml") and len(files) == 2
    sections = load_sections(files[1])
    assert sections == {"semcomm_decoder": {"reconstruction.backend": "none",
                                            "qos.image_depth": 2}}


def test_no_overrides_no_second_file(tmp_path):
    cmd = NodeProcess("encoder_node").command(tmp_path / "c.yaml", tmp_path)
    assert cmd.count("--params-file") == 1


def test_prefix_runs_inside_a_namespace(tmp_path):
    cmd = NodeProcess("link_monitor_node", prefix=["ip", "netns", "exec", "x"]).command(
        tmp_path / "c.yaml", tmp_path)
    assert cmd[:4] == ["ip", "netns", "exec", "x"]


def test_overrides_file_is_plain_yaml(tmp_path):
    path = overrides_file("source_node", {"max_frames": 3, "source": "a b"}, tmp_path)
    assert yaml.safe_load(path.read_text()) == {
        "semcomm_source": {"ros__parameters": {"max_frames": 3, "source": "a b"}}}


GRAPH_SCRIPT = """
import sys, time
from pathlib import Path
from semcomm_ros.launcher import Graph, NodeProcess

class Sleeper(NodeProcess):
    def command(self, config, folder):
        return [sys.executable, "-c", "import time; time.sleep(120)"]

graph = Graph([Sleeper("a"), Sleeper("b")])
graph.start()
Path(sys.argv[1]).write_text(" ".join(str(n.process.pid) for n in graph.nodes))
sys.exit(graph.wait())
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_graph_stops_its_nodes_on_sigint_or_sigterm_even_with_sigint_inherited_ignored(
        tmp_path, signum):
    """Either signal stops the graph's nodes too (they run in sessions of their own).

    `semcomm run` started in the background of a script inherits SIGINT ignored, and a
    SIGTERM used to kill it alone, leaving the nodes running.
    """
    pids = tmp_path / "pids"
    proc = subprocess.Popen(
        [sys.executable, "-c", GRAPH_SCRIPT, str(pids)],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.monotonic() + 30
    while not pids.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids.exists(), "the graph did not start"
    time.sleep(0.5)  # inside wait()
    children = [int(p) for p in pids.read_text().split()]
    proc.send_signal(signum)
    proc.wait(timeout=20)
    time.sleep(0.2)
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
