"""Integration: hostile WeightedSemantics over DDS against a real decoder node process.

Bounded version of ``semcomm fuzz`` (semcomm_ros/bench/fuzz.py): 1,500 mutants with the
default reconstruction backend, a valid frame after every ten. Asserts: no crash, no
hang, every valid frame decoded, no hostile mutant accepted, no message blocking the
node for more than a second (its own time; the round trip under two), resident memory
under the documented ceiling.
"""
from __future__ import annotations

import pytest

from semcomm_ros.bench.fuzz import RSS_CEILING_MB, Fuzzer, valid_frames
from semcomm_ros.launcher import Graph, NodeProcess
from semcomm_ros.node_config import TopicsConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MUTANTS = 1500


@pytest.mark.timeout(400)
def test_decoder_node_survives_mutants_and_keeps_decoding(ros_node, sample_bag, tmp_path):
    valid = valid_frames(str(sample_bag), 6)
    graph = Graph([NodeProcess("decoder_node")], log_dir=tmp_path / "logs")
    graph.start()
    try:
        fuzzer = Fuzzer(ros_node, TopicsConfig(), graph.nodes[0].process.pid, valid, seed=7)
        assert fuzzer.wait_ready(180), f"decoder did not start; logs {tmp_path}"
        stats = fuzzer.run(MUTANTS, seconds=300, alive=lambda: not graph.failed())
    finally:
        graph.stop()
    summary = (f"{stats.mutants} mutants, {stats.rejected} rejected, "
               f"{stats.accepted_benign} benign accepted, {stats.unreported} silent; valid "
               f"{stats.valid_decoded}/{stats.valid_sent}; max block {stats.max_block_s:.2f} s, "
               f"node {stats.max_node_s:.2f} s "
               f"({stats.slowest_kind}); RSS {stats.rss_mb_start:.0f} -> {stats.rss_mb_max:.0f} "
               f"MiB; failures {stats.failures[:5]}; logs {tmp_path}")
    assert not stats.crashed and not stats.hung, summary
    assert stats.mutants == MUTANTS, summary
    assert stats.valid_decoded == stats.valid_sent >= MUTANTS // 10, summary
    assert stats.accepted_invalid == 0, summary
    assert stats.rejected >= MUTANTS // 2, summary  # most mutants reach the node's checks
    # The node's own time on any message stays under a second. The sender's round trip
    # (publish -> report) also holds this process, DDS transport and the rest of a busy
    # 2-core CI machine: 1.003 s was seen there once for a 5000-object message whose node
    # time is ~0.05 s, so the round trip only has to show that nothing hung.
    assert stats.max_node_s <= 1.0, summary
    assert stats.max_block_s <= 2.0, summary
    assert stats.rss_mb_max <= RSS_CEILING_MB, summary
