"""``semcomm fuzz``: hostile WeightedSemantics over DDS against a real decoder node.

The decoder node runs as its own process (the way the project starts it, with
the configured reconstruction backend). This process publishes, one at a time,
mutants of valid frames — flipped, truncated and extended blobs, absurd sizes,
NaN weights, huge labels and frame ids, thousands of objects, class id 65535,
sequence and reference jumps, wrong versions, raw CDR garbage, a few large
messages — interleaved with valid frames, and checks from the FrameReports:

* every valid frame is decoded (``decoded_ok``), before and after the mutants;
* no mutant is accepted that should not be: one may be decoded only when its CRC
  matches and every field passes ``bitstream.pack`` (a legal frame, scored apart);
* no message blocks the node for more than ``--max-block-s`` (the time from
  sending to its report, or to the report of the valid frame sent right after);
* the node's resident memory stays under the documented ceiling.

Valid frames are independent stills (one fresh encoder each), so that whether
they decode does not depend on what the mutants did to the decoder's state.
``test/nodes/test_fuzz_dds.py`` runs a bounded version in ``make test``;
``semcomm fuzz --minutes N`` runs longer (10^5 mutants take about an hour).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: documented resident-memory ceiling of the decoder node at the default configuration
#: (embedded backend, default limits); docs/architecture.md "Failure handling"
RSS_CEILING_MB = 2048


@dataclass
class FuzzStats:
    """What a run saw."""

    mutants: int = 0
    valid_sent: int = 0
    valid_decoded: int = 0
    rejected: int = 0                 # reported decoded_ok = false
    accepted_benign: int = 0          # benign mutants decoded (allowed)
    accepted_invalid: int = 0         # hostile mutants decoded (a failure)
    unreported: int = 0               # no report: never deserialized (raw garbage) or lost
    by_status: dict = field(default_factory=dict)
    by_kind: dict = field(default_factory=dict)
    max_block_s: float = 0.0          # publish -> report, as the sender sees it (the worst)
    slowest_kind: str = ""
    max_node_s: float = 0.0           # the node's own time on one message (its report's
    #                                   decode_time_ms): what blocks it, without DDS transport,
    #                                   this process and the machine's other load
    rss_mb_start: float = 0.0
    rss_mb_max: float = 0.0
    rss_mb_end: float = 0.0
    crashed: bool = False
    hung: bool = False
    seconds: float = 0.0
    failures: list = field(default_factory=list)

    def ok(self, rss_ceiling_mb: float, max_block_s: float) -> bool:
        """The run's verdict."""
        return (not self.crashed and not self.hung and self.accepted_invalid == 0
                and self.valid_decoded == self.valid_sent and self.rss_mb_max <= rss_ceiling_mb
                and self.max_block_s <= max_block_s)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def valid_frames(source: str, count: int, start: int = 600):
    """``count`` independent (still) WeightedSemantics of the sample scene, default config."""
    import itertools

    from std_msgs.msg import Header

    from semcomm_ros.codec import SemanticEncoder
    from semcomm_ros.io.frame_sources import open_source
    from semcomm_ros.node_config import codec_config
    from semcomm_ros.nodes.convert import frame_to_msg

    cfg = codec_config()
    detector_enc = SemanticEncoder(cfg)
    out = []
    for i, frame in enumerate(itertools.islice(open_source(source), start, start + count)):
        enc = SemanticEncoder(cfg, detector=detector_enc.detector)  # fresh: an intra frame
        coded = enc.encode(frame.image, 6000, sequence=i)
        header = Header(frame_id="camera")
        header.stamp.sec = 1000 + i
        out.append(frame_to_msg(coded, header))
    return out


def _blob_names(msg) -> list[tuple[object, str]]:
    names = [(msg, "background"), (msg, "gist"), (msg, "weight_map")]
    names += [(o, n) for o in msg.objects for n in ("texture", "mask")]
    return [(owner, n) for owner, n in names if len(getattr(owner, n))]


def mutate(msg, rng: random.Random):
    """One mutant of ``msg``: (message or raw CDR bytes, kind)."""
    from semcomm_ros.msg import SemanticObject

    m = copy.deepcopy(msg)
    kind = rng.choice(KINDS)
    blobs = _blob_names(m)
    if kind == "flip" and blobs:
        owner, name = rng.choice(blobs)
        data = bytearray(getattr(owner, name))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        setattr(owner, name, bytes(data))
    elif kind == "truncate" and blobs:
        owner, name = rng.choice(blobs)
        data = bytes(getattr(owner, name))
        setattr(owner, name, data[:rng.randrange(len(data))])
    elif kind == "extend" and blobs:
        owner, name = rng.choice(blobs)
        setattr(owner, name, bytes(getattr(owner, name)) + rng.randbytes(rng.randint(1, 5000)))
    elif kind == "size":
        big = rng.choice([8192, 65535, 2**31, 2**32 - 1, 0])
        field_name = rng.choice(["source_width", "source_height", "background_width",
                                 "background_height", "gist_width"])
        limit = 65535 if field_name in ("background_width", "background_height", "gist_width") \
            else 2**32 - 1
        setattr(m, field_name, min(big, limit))
        if field_name.startswith("source") and big == 8192 and m.objects:
            for o in m.objects:  # full-frame boxes: the 8192x8192 x objects case
                o.box.x_offset = o.box.y_offset = 0
                o.box.width = o.box.height = 8192
    elif kind == "weights" and m.objects:
        o = rng.choice(m.objects)
        value = rng.choice([math.nan, math.inf, -1.0, 2.0])
        if rng.random() < 0.5:
            o.weight = value
        else:
            o.confidence = value
    elif kind == "label" and m.objects:
        o = rng.choice(m.objects)
        o.label = rng.choice(["x" * rng.randint(65, 100_000), "bad\x07label", "\x1b[2J"])
    elif kind == "frame_id":
        m.header.frame_id = rng.choice(["c" * rng.randint(257, 2_000_000), "cam\nera"])
    elif kind == "objects":
        n = rng.choice([256, 1000, 5000])
        proto = SemanticObject(class_id=0, label="person", confidence=0.9, weight=1.0)
        proto.box.width = proto.box.height = 8
        m.objects = [copy.deepcopy(proto) for _ in range(n)]
    elif kind == "class_id" and m.objects:
        rng.choice(m.objects).class_id = 65535
    elif kind == "sequence":
        m.sequence = rng.randrange(2**32)
    elif kind == "reference":
        m.texture_mode = rng.choice([1, 3, 4, 7, 255])
        m.ref_sequence = rng.randrange(2**32)
        m.texture_parts = rng.choice([0, 1, 200])
    elif kind == "version":
        m.format_version = rng.choice([0, 1, 3, 999, 65535])
    elif kind == "weight_map":
        m.weight_map_width = rng.choice([0, 1, 60000, 65535])
    elif kind == "huge":
        m.background = rng.randbytes(rng.choice([2, 9, 20]) * 1_000_000)
    elif kind == "garbage":
        from rclpy.serialization import serialize_message

        raw = bytearray(serialize_message(m))
        for _ in range(rng.randint(1, 50)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw[:rng.randrange(4, len(raw))]), kind
    return m, kind  # a generator that found nothing to change: a plain (legal) duplicate


KINDS = ["flip", "truncate", "extend", "size", "weights", "label", "frame_id", "objects",
         "class_id", "sequence", "reference", "version", "weight_map", "huge", "garbage"]


class Fuzzer:
    """Publishes mutants and valid frames to a running decoder node; collects reports."""

    def __init__(self, node, topics, pid: int, valid: list, seed: int = 1):
        """``node``: an rclpy node with ``spin_until``; ``pid``: the decoder's process."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from semcomm_ros.msg import FrameReport, WeightedSemantics

        self.node, self.pid, self.valid, self.topics = node, pid, valid, topics
        self.rng = random.Random(seed)
        self.reports: dict[int, list] = {}
        self.pub = node.create_publisher(
            WeightedSemantics, topics.semantics,
            QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        node.create_subscription(FrameReport, topics.frame_report, self._on_report, 1000)
        self.stats = FuzzStats()
        self.seq = 10_000  # valid frames get fresh sequence numbers above the mutants' range

    def _on_report(self, msg) -> None:
        self.reports.setdefault(msg.sequence, []).append(msg)

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Until the decoder subscribes, its reports reach us and a valid frame decodes."""
        deadline = time.monotonic() + timeout
        if not self.node.spin_until(
                lambda: self.pub.get_subscription_count() >= 1
                and self.node.count_publishers(self.topics.frame_report) >= 1, timeout):
            return False
        while time.monotonic() < deadline:  # the first frames also wait for the backend
            report, _ = self._send(self._next_valid(), 10.0)
            if report is not None and report.decoded_ok:
                return True
        return False

    def _next_valid(self):
        """A valid frame under the next fresh sequence number (its CRC made anew)."""
        from semcomm_ros.nodes.convert import _frame_from_msg, payload_crc

        msg = copy.deepcopy(self.rng.choice(self.valid))
        msg.sequence = self.seq
        msg.payload_crc = payload_crc(_frame_from_msg(msg))
        self.seq += 1
        return msg

    def _send(self, msg, timeout: float):
        """Publish; wait for a new report of its sequence. (report or None, seconds)."""
        seq = msg.sequence
        before = len(self.reports.get(seq, []))
        t0 = time.monotonic()
        self.pub.publish(msg)
        got = self.node.spin_until(lambda: len(self.reports.get(seq, [])) > before, timeout)
        return (self.reports[seq][-1] if got else None), time.monotonic() - t0

    def send_valid(self, timeout: float = 10.0) -> bool:
        """One valid frame under a fresh sequence; True when it decoded."""
        msg = self._next_valid()
        self.stats.valid_sent += 1
        report, took = self._send(msg, timeout)
        ok = report is not None and report.decoded_ok
        self.stats.valid_decoded += int(ok)
        if not ok:
            self.stats.failures.append(f"valid frame {msg.sequence} not decoded "
                                       f"({'no report' if report is None else report.status})")
            if report is None:
                self.stats.hung = True
        return ok

    def send_mutant(self, timeout: float = 10.0) -> None:
        """One mutant; scored by its report (or its silence)."""
        from semcomm_ros.nodes.convert import _frame_from_msg, payload_crc

        base = self.rng.choice(self.valid)
        mutant, kind = mutate(base, self.rng)
        self.stats.mutants += 1
        counts = self.stats.by_kind.setdefault(kind, {"sent": 0, "rejected": 0, "accepted": 0,
                                                       "silent": 0})
        counts["sent"] += 1
        if isinstance(mutant, bytes):  # raw CDR: the middleware may drop it before the node
            t0 = time.monotonic()
            self.pub.publish(mutant)
            self.node.spin_until(lambda: False, 0.01)
            self.stats.unreported += 1
            counts["silent"] += 1
            self._block(time.monotonic() - t0, kind)
            return
        mutant.sequence = mutant.sequence if kind == "sequence" else \
            self.rng.randrange(1_000, 9_000)
        if self.rng.random() < 0.5:
            # Half the mutants carry a CRC made for their content (a hostile or buggy
            # sender, not a corruption), so the checks behind the CRC are reached too.
            try:
                mutant.payload_crc = payload_crc(_frame_from_msg(mutant))
            except Exception:  # noqa: BLE001 - pack refuses it: the CRC stays stale
                pass
        # The oracle: a mutant may be accepted only if its CRC matches and every field is
        # within the format and the limits (pack validates); the decoder may still refuse
        # image bytes that do not decode. Anything else accepted is a failure.
        try:
            benign = payload_crc(_frame_from_msg(mutant)) == mutant.payload_crc
        except Exception:  # noqa: BLE001 - not packable: must be refused
            benign = False
        report, took = self._send(mutant, 2.0)
        if report is not None:
            self.stats.max_node_s = max(self.stats.max_node_s, report.decode_time_ms / 1e3)
        if report is None:
            # Never reported (the middleware dropped or could not deserialize it): how long
            # the node was blocked shows in the next valid frame's round trip.
            self.stats.unreported += 1
            counts["silent"] += 1
            t0 = time.monotonic()
            self.send_valid(timeout)
            took = time.monotonic() - t0
        elif report.decoded_ok:
            counts["accepted"] += 1
            if benign:
                self.stats.accepted_benign += 1
            else:
                self.stats.accepted_invalid += 1
                self.stats.failures.append(f"{kind} mutant {mutant.sequence} accepted")
        else:
            counts["rejected"] += 1
            self.stats.rejected += 1
            key = str(report.status)
            self.stats.by_status[key] = self.stats.by_status.get(key, 0) + 1
        self._block(took, kind)

    def _block(self, seconds: float, kind: str) -> None:
        counts = self.stats.by_kind.get(kind)
        if counts is not None:
            counts["max_block_s"] = max(counts.get("max_block_s", 0.0), round(seconds, 3))
        if seconds > self.stats.max_block_s:
            self.stats.max_block_s, self.stats.slowest_kind = seconds, kind

    def run(self, mutants: int | None, seconds: float | None, valid_every: int = 10,
            alive=lambda: True) -> FuzzStats:
        """Valid frames first, then mutants with a valid frame every ``valid_every``."""
        t_start = time.monotonic()
        for _ in range(3):
            self.send_valid()
        self.stats.rss_mb_start = rss_mb(self.pid)
        i = 0
        while (mutants is None or i < mutants) and \
                (seconds is None or time.monotonic() - t_start < seconds):
            if not alive():
                self.stats.crashed = True
                break
            self.send_mutant()
            i += 1
            if i % valid_every == 0:
                if not self.send_valid():
                    if not alive():
                        self.stats.crashed = True
                    break
                self.stats.rss_mb_max = max(self.stats.rss_mb_max, rss_mb(self.pid))
        if not self.stats.crashed and alive():
            for _ in range(3):
                self.send_valid()
        self.stats.rss_mb_end = rss_mb(self.pid)
        self.stats.rss_mb_max = max(self.stats.rss_mb_max, self.stats.rss_mb_end)
        self.stats.crashed = self.stats.crashed or not alive()
        self.stats.seconds = time.monotonic() - t_start
        return self.stats


def write_report(summary: dict, folder: Path, command: str) -> None:
    """``fuzz.md`` (with machine, date and command) and ``fuzz.json`` in ``folder``."""
    import datetime

    from semcomm_ros.bench.report import machine

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fuzz.json").write_text(json.dumps(summary, indent=1))
    kinds = summary["by_kind"]
    md = ["# Decoder fuzz over DDS", "",
          f"- machine: {machine()}",
          f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"{summary['seconds'] / 60:.1f} min",
          f"- command: `{command}`",
          "- what: mutants of valid frames published one at a time to a decoder node process "
          "(default configuration, embedded backend), a valid frame after every ten; "
          "half the mutants carry a CRC made for their content (`semcomm_ros/bench/fuzz.py`)",
          "", "| measure | value | target |", "|---|---|---|",
          f"| verdict | **{summary['verdict']}** | |",
          f"| mutants | {summary['mutants']} | 10^5 |",
          f"| valid frames decoded | {summary['valid_decoded']} / {summary['valid_sent']} | all |",
          f"| hostile mutants accepted | {summary['accepted_invalid']} | 0 |",
          f"| rejected with a FrameReport (status: count) | {summary['rejected']} "
          f"({', '.join(f'{k}: {v}' for k, v in sorted(summary['by_status'].items()))}) | |",
          f"| legal mutants accepted (CRC and fields valid) | {summary['accepted_benign']} | |",
          f"| never reported (raw CDR garbage, messages the middleware dropped) | "
          f"{summary['unreported']} | |",
          f"| crash / hang | {summary['crashed']} / {summary['hung']} | no / no |",
          f"| longest block of the node (publish -> report) | {summary['max_block_s']:.2f} s "
          f"({summary['slowest_kind']}) | <= {summary['max_block_limit_s']:g} s |",
          f"| longest time the node spent on one message (its report) | "
          f"{summary.get('max_node_s', float('nan')):.2f} s | |",
          f"| resident memory: start / max / end | {summary['rss_mb_start']:.0f} / "
          f"{summary['rss_mb_max']:.0f} / {summary['rss_mb_end']:.0f} MiB | <= "
          f"{summary['rss_ceiling_mb']:.0f} MiB, flat |", "",
          "| mutation | sent | rejected | accepted (legal) | silent |", "|---|---|---|---|---|"]
    for kind, c in sorted(kinds.items()):
        md.append(f"| {kind} | {c['sent']} | {c['rejected']} | {c['accepted']} | {c['silent']} |")
    (folder / "fuzz.md").write_text("\n".join(md) + "\n")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Command-line options."""
    p.add_argument("--minutes", type=float, default=10.0, help="how long to fuzz")
    p.add_argument("--mutants", type=int, default=None, help="stop after this many")
    p.add_argument("--backend", default=None, help="reconstruction.backend of the decoder "
                   "(default: the configured one)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-block-s", type=float, default=1.0)
    p.add_argument("--rss-ceiling-mb", type=float, default=RSS_CEILING_MB)
    p.add_argument("--source", default=None, help="bag or video the valid frames come from "
                   "(default: the sample bag)")
    p.add_argument("--out", default=None, help="write the statistics as JSON here")
    p.add_argument("--report", default=None,
                   help="write fuzz.md and fuzz.json into this folder (docs/benchmarks)")


def run(args: argparse.Namespace) -> int:
    """Start a decoder node, fuzz it, print and (optionally) save the statistics."""
    import rclpy
    from rclpy.node import Node

    from semcomm_ros.config import dds_environment
    from semcomm_ros.launcher import Graph, NodeProcess
    from semcomm_ros.node_config import TopicsConfig
    from semcomm_ros.paths import SHARE

    source = args.source or str(SHARE / "data" / "sample" / "vtest_10hz")
    valid = valid_frames(source, 8)
    overrides = {"reconstruction.backend": args.backend} if args.backend else {}
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(120, 200)))
    dds_environment(os.environ)
    graph = Graph([NodeProcess("decoder_node", overrides)])
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node("semcomm_fuzzer", context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def spin_until(cond, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.01)
            if cond():
                return True
        return cond()

    node.spin_until = spin_until
    graph.start()
    try:
        fuzzer = Fuzzer(node, TopicsConfig(), graph.nodes[0].process.pid, valid, args.seed)
        if not fuzzer.wait_ready():
            print("decoder node did not start", file=sys.stderr)
            return 2
        stats = fuzzer.run(args.mutants, args.minutes * 60.0,
                           alive=lambda: not graph.failed())
    finally:
        graph.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
    ok = stats.ok(args.rss_ceiling_mb, args.max_block_s)
    summary = asdict(stats) | {"verdict": "pass" if ok else "FAIL",
                               "rss_ceiling_mb": args.rss_ceiling_mb,
                               "max_block_limit_s": args.max_block_s}
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"}, indent=1))
    for line in stats.failures[:20]:
        print("failure:", line)
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))
    if args.report:
        write_report(summary, Path(args.report), "semcomm fuzz " + " ".join(sys.argv[2:]))
    return 0 if ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """``semcomm fuzz``."""
    p = subparsers.add_parser("fuzz", help="hostile WeightedSemantics over DDS against a "
                                           "decoder node (docs/architecture.md)")
    add_arguments(p)
    p.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point."""
    p = argparse.ArgumentParser(prog="semcomm fuzz")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

