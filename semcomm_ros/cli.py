"""The ``semcomm`` command: run the graph, the demo, benchmarks, training, sample data.

Subcommands import their heavy modules lazily, so ``semcomm --help`` is quick.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from semcomm_ros.config import DEFAULT_CONFIG, ConfigError


def _cmd_make_sample(args: argparse.Namespace) -> int:
    from semcomm_ros.io.bag_writer import write_image_bag
    from semcomm_ros.io.frame_sources import SourceFrame, iter_video

    out = Path(args.out)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    w, h = (int(v) for v in args.size.lower().split("x"))
    frames = iter_video(args.video, fps=args.fps)
    t0 = int(args.start_time * 1e9)
    frames = (SourceFrame(f.index, t0 + f.stamp_ns, f.image) for f in frames)
    n = write_image_bag(frames, out, topic=args.topic, size=(w, h), storage=args.storage,
                        encoding=args.encoding)
    print(f"[sample] wrote {n} frames ({w}x{h}, {args.fps:g} Hz, {args.encoding}) on "
          f"{args.topic} to {out}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from semcomm_ros.launcher import ROLES, Graph, NodeProcess

    nodes = [NodeProcess(n) for n in ROLES[args.role]]
    if args.source:
        nodes.insert(0, NodeProcess("source_node", {"source": args.source}))
    if args.record:
        nodes.append(NodeProcess("recorder_node", {"path": str(Path(args.record).resolve())}))
    graph = Graph(nodes, config=args.config, domain_id=args.domain_id)
    print(f"[run] role {args.role}: {', '.join(n.node for n in nodes)} "
          f"(config {graph.config}); Ctrl-C stops")
    graph.start()
    return graph.wait()


def _cmd_demo(args: argparse.Namespace) -> int:
    from semcomm_ros.demo import run_demo

    overrides: dict = {}
    if args.backend:
        overrides["decoder"] = {"reconstruction.backend": args.backend}
    if args.budget:
        overrides["encoder"] = {"use_link_state": False, "default_budget_bytes": args.budget}
    csv_path = run_demo(Path(args.out), config=args.config, source=args.source,
                        start=args.start, frames=args.frames, rate_hz=args.rate,
                        overrides=overrides, domain_id=args.domain_id, link=args.link,
                        link_kbit=args.link_kbit)
    out = csv_path.parent
    print(f"[demo] done. Output in {out}/:\n  frames/recon_*.png  reconstructed frames\n"
          f"  frames.csv          per-frame bytes, budget, level, latency, PSNR, estimate\n"
          f"  side_by_side.png    original | weight map | reconstruction\n"
          f"  link.png            estimate, budget and delivered rate over time")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    """Print the effective configuration (schema defaults + file) as a commented params file."""
    from semcomm_ros import config as c
    from semcomm_ros.node_config import NODE_SCHEMA

    if args.defaults:
        sections = {node: cls() for node, cls in NODE_SCHEMA.items()}
    else:
        sections = {node: c.load_node_config(cls, node, args.config)
                    for node, cls in NODE_SCHEMA.items()}
    print(c.dump_yaml(sections, NODE_SCHEMA, shared=("topics", "qos")), end="")
    return 0


def _register_optional(subparsers, module: str) -> None:
    """Let a library module add its own subcommand (``register(subparsers)``)."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # the module is optional until its issue lands
        print(f"[semcomm] {module} unavailable: {exc}", file=sys.stderr)
        return
    mod.register(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``semcomm``."""
    p = argparse.ArgumentParser(prog="semcomm", description=__doc__)
    p.add_argument("--config", default=str(DEFAULT_CONFIG),
                   help="ROS 2 parameter file (default: config/semcomm.yaml)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("make-sample", help="convert a video into a rosbag2 bag of Images")
    s.add_argument("--video", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--topic", default="/camera/image_raw")
    s.add_argument("--fps", type=float, default=10.0)
    s.add_argument("--size", default="640x480", help="WIDTHxHEIGHT")
    s.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    s.add_argument("--encoding", choices=["bgr8", "rgb8", "mono8", "jpeg", "png"],
                   default="bgr8", help="Image encoding (bgr8, rgb8, mono8) or CompressedImage "
                   "format (jpeg, png); default bgr8")
    s.add_argument("--start-time", type=float, default=1_767_225_600.0,
                   help="stamp of the first frame, Unix seconds (default 2026-01-01)")
    s.set_defaults(func=_cmd_make_sample)

    s = sub.add_parser("run", help="start the nodes of one side (pip-environment launcher)")
    s.add_argument("--role", choices=["robot", "base", "all"], default="all")
    s.add_argument("--source", help="also play this bag / video / folder as the camera")
    s.add_argument("--record", metavar="DIR", default=None,
                   help="also record the outputs (reconstruction, overlay, detections, "
                        "LinkState, FrameReport, WeightedSemantics) into a new MCAP bag DIR "
                        "(the recorder node; topics: semcomm_recorder.record in the config)")
    s.add_argument("--domain-id", type=int, default=None)
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("demo", help="play the sample bag through the whole graph over DDS")
    s.add_argument("--out", default="out/demo")
    s.add_argument("--source", default=None, help="bag / video / folder (default: config)")
    s.add_argument("--start", type=int, default=600,
                   help="first frame (default 600: the held-out part of the sample)")
    s.add_argument("--frames", type=int, default=30)
    s.add_argument("--rate", type=float, default=5.0, help="frames per second")
    s.add_argument("--backend", choices=["none", "embedded", "sd"], default=None,
                   help="reconstruction backend (default: config)")
    s.add_argument("--budget", type=int, default=0,
                   help="0 (default): follow the link monitor's LinkState (the closed loop); "
                        "N: a fixed N bytes per frame")
    s.add_argument("--link", choices=["auto", "netns", "loopback"], default="auto",
                   help="auto (default): a tc-shaped link between two network namespaces "
                        "when root, else loopback")
    s.add_argument("--link-kbit", default="1000",
                   help="shaped link rate, kbit/s; a comma list steps through the rates in "
                        "equal parts of the run, 0 = an outage (default 1000)")
    s.add_argument("--domain-id", type=int, default=None)
    s.set_defaults(func=_cmd_demo)

    s = sub.add_parser("config", help="print the effective configuration")
    s.add_argument("--defaults", action="store_true",
                   help="the schema's defaults, ignoring --config (regenerates "
                        "config/semcomm.yaml)")
    s.set_defaults(func=_cmd_config)

    bench = sub.add_parser("bench", help="benchmarks writing docs/benchmarks/")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    _register_optional(bench_sub, "semcomm_ros.bench.codec")
    _register_optional(bench_sub, "semcomm_ros.bench.decoder")
    _register_optional(bench_sub, "semcomm_ros.bench.detect")
    _register_optional(bench_sub, "semcomm_ros.bench.link")
    _register_optional(sub, "semcomm_ros.reconstruction.train")
    _register_optional(sub, "semcomm_ros.bench.fuzz")
    _register_optional(sub, "semcomm_ros.evaluation.cli")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``semcomm``."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, RuntimeError, FileNotFoundError) as exc:
        print(f"semcomm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
