"""The closed loop over a real shaped link (network namespaces, tc tbf): needs root.

Real nodes in two namespaces, DDS over UDP across a veth pair shaped to
1000 kbit/s, then 300 kbit/s (``tc qdisc change``). Frames must flow in both
phases, the link monitor's estimate must move toward the new capacity, and
nothing (namespace, process) may be left behind. About 50 s. CI runs as root,
so this runs there; elsewhere it is skipped with the reason.
"""
import subprocess

import pytest

from semcomm_ros.bench.link import SEMCOMM, analyse, link_series, run_experiment
from semcomm_ros.bench.link_traces import Trace, percentile
from semcomm_ros.bench.netns import leftover_namespaces, netns_available

pytestmark = pytest.mark.integration

REASON = netns_available()


@pytest.mark.skipif(REASON is not None, reason=f"netns integration test skipped: {REASON}")
@pytest.mark.timeout(150)
def test_loop_follows_a_capacity_drop_on_a_shaped_link(tmp_path, sample_bag):
    timeline = Trace("drop", [(0, 1000), (16, 300)], 32)
    run = run_experiment(timeline, fps=5.0, work=tmp_path, sender=SEMCOMM, psnr_every=10,
                         start_timeout=60)
    assert [k for _, k in run.applied] == [1000, 300]
    result = analyse({SEMCOMM: run}, timeline)
    high, low = result["stats"][SEMCOMM]
    # frames flow in both phases, and reach the operator (reconstruction received)
    assert high.fps > 2.0 and low.fps > 1.0, (high, low)
    assert high.delivered > 0.6 and low.delivered > 0.6, (high, low)
    # physics: nothing beats the shaped rate (payload only; 8 % for timing slack)
    assert high.goodput_kbit < 1.08 * 1000 and low.goodput_kbit < 1.08 * 300, (high, low)
    assert high.goodput_kbit > 100, high  # the link is used
    # the estimate moves toward the new capacity (medians over each phase's second half)
    series = link_series(run)
    est_high = percentile([e for t, e in series if 8 <= t < 16], 50)
    est_low = percentile([e for t, e in series if 24 <= t < 32], 50)
    assert est_low < 0.85 * est_high, (est_high, est_low)
    # (loose low bound: a busy 2-core CI host makes the estimator undershoot; the bench
    # reports the +-20 % target itself)
    assert 100 <= est_low <= 1.5 * 300, (est_high, est_low)
    # the budget came down with it
    frames = result["tables"][SEMCOMM]
    budgets_high = [int(f["budget"]) for f in frames if 4 <= float(f["camera_s"]) < 16]
    budgets_low = [int(f["budget"]) for f in frames if 24 <= float(f["camera_s"]) < 32]
    assert budgets_low and budgets_high
    assert sorted(budgets_low)[len(budgets_low) // 2] < sorted(budgets_high)[
        len(budgets_high) // 2], (budgets_high, budgets_low)
    # nothing left behind: its namespaces (others' may exist: a demo), probes, nodes
    assert len(run.namespaces) == 2
    assert not set(run.namespaces) & set(leftover_namespaces()), run.namespaces
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in ps


def _udp_crosses(link) -> int:
    """Datagrams of 20 sent robot -> base that arrive (1 s receive window)."""
    import sys
    rx = subprocess.Popen(
        [*link.exec_prefix("base"), sys.executable, "-c",
         "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
         "s.bind(('0.0.0.0', 9977)); s.settimeout(1.0); n = 0\n"
         "try:\n    while True: s.recv(2000); n += 1\nexcept OSError: pass\nprint(n)"],
        stdout=subprocess.PIPE, text=True)
    import time
    time.sleep(0.5)
    subprocess.run([*link.exec_prefix("robot"), sys.executable, "-c",
                    "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                    f"for _ in range(20): s.sendto(b'x' * 200, ('{link.base_ip}', 9977))"],
                   check=True)
    return int(rx.communicate(timeout=10)[0])


@pytest.mark.skipif(REASON is not None, reason=f"netns integration test skipped: {REASON}")
def test_outage_blocks_everything_and_the_link_comes_back():
    from semcomm_ros.bench.netns import ShapedLink
    with ShapedLink(1000, tag="t9977") as link:
        assert _udp_crosses(link) == 20
        link.set_rate(0)
        assert _udp_crosses(link) == 0      # a real outage: not even a keep-alive passes
        link.set_rate(500)
        assert _udp_crosses(link) == 20     # at once: static neighbours, tbf back in place
        link.set_rate(2000)                 # tc change on the tbf
        assert _udp_crosses(link) == 20
    assert not {"scrt9977", "scbt9977"} & set(leftover_namespaces())


@pytest.mark.skipif(REASON is not None, reason=f"netns integration test skipped: {REASON}")
def test_a_failed_run_leaves_nothing_behind(tmp_path, sample_bag):
    with pytest.raises(RuntimeError, match="no frame crossed"):
        run_experiment(Trace("t", [(0, 1000)], 5), fps=5.0, work=tmp_path, start_timeout=0.5)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in ps
    assert not [n for n in leftover_namespaces() if n.endswith(str(__import__("os").getpid()
                                                                    % 100000))]
