"""``semcomm eval BAG... --out DIR``: replay bags through the codec, write the report.

Per bag: the evaluated frames (topic given or the first image topic, from frame 0),
the detector over them once (cached in ``bags/<bag>/detections.pkl``), then one run
per setting (each ``--budgets`` rate, or the ``--trace``) in a pool of ``--jobs``
processes, each writing ``bags/<bag>/<setting>/``. A run whose results exist for
the same inputs (bag file, topic, frames, configuration, options: a fingerprint) is
not repeated: an interrupted evaluation restarts where it stopped, per bag and
setting (``--force`` redoes everything). Then ``report.write_report`` builds
``index.html``, ``frames.csv`` and ``summary.json`` in ``--out``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import re
import sys
import time
from dataclasses import asdict
from pathlib import Path

DEFAULT_BUDGETS = [15.0, 30.0, 100.0, 200.0, 500.0]


def slug(text: str) -> str:
    """A file-name-safe name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "bag"


def bag_stat(path: str) -> list:
    """Size and modification time of a bag's files (a changed bag is evaluated again)."""
    p = Path(path)
    files = sorted(p.rglob("*")) if p.is_dir() else [p]
    return [[f.name, f.stat().st_size, int(f.stat().st_mtime)] for f in files if f.is_file()]


def fingerprint(*parts) -> str:
    """A short hash of JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- workers

_QUEUE = None


def _init_worker(queue, threads: int) -> None:
    global _QUEUE
    _QUEUE = queue
    import cv2

    cv2.setNumThreads(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is in the environment
        pass


def _progress(n: int) -> None:
    if _QUEUE is not None:
        _QUEUE.put(n)


def _run_job(job: dict) -> dict:
    """One bag x setting in a worker process; returns the summary as a dict."""
    from semcomm_ros.evaluation.replay import run_setting

    with open(job["detections"], "rb") as fh:
        detections = pickle.load(fh)["detections"]
    result = run_setting(job["frames"], detections, job["setting"], job["cfg"],
                         job["recon_cfg"], job["budget_cfg"], Path(job["out"]),
                         job["options"], progress=_progress)
    Path(job["out"], "done.json").write_text(json.dumps({"fingerprint": job["fingerprint"]}))
    return asdict(result)


# --------------------------------------------------------------------------- command

def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``semcomm eval``."""
    p.add_argument("bags", nargs="+", metavar="BAG",
                   help="rosbag2 bag folders or files (MCAP or sqlite3)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--budgets", type=float, nargs="+", default=None,
                       help="fixed link rates, kbit/s (default 15 30 100 200 500); each frame "
                            "gets rate / frame rate bytes")
    group.add_argument("--trace", default=None,
                       help="bandwidth trace CSV time_s,rate_kbit (docs/benchmarks/"
                            "link_trace_example.csv): the rate follows it from the bag's first "
                            "frame through the encoder's budget policy")
    p.add_argument("--backend", choices=["none", "embedded", "sd"], default="none",
                   help="reconstruction backend at the base station (default none: "
                        "composition; embedded: the shipped diffusion decoder)")
    p.add_argument("--out", required=True, help="report folder (index.html, frames.csv, ...)")
    p.add_argument("--topic", default=None,
                   help="image topic (Image or CompressedImage); default: the bag's first")
    p.add_argument("--fps", type=float, default=0.0,
                   help="evaluate at most this many frames per second of the bag (default 0: "
                        "every frame)")
    p.add_argument("--start", type=int, default=0,
                   help="first message of the topic to evaluate (default 0: from the first; "
                        "600: the sample bag's held-out part, never trained on)")
    p.add_argument("--max-frames", type=int, default=0,
                   help="stop after this many frames per bag (default 0: all)")
    p.add_argument("--detect-every", type=int, default=10,
                   help="recall / phantoms: the detector on every n-th decoded picture of "
                        "every codec (default 10; 0: never)")
    p.add_argument("--baselines", nargs="*", default=["webp", "x264"],
                   choices=["webp", "x264"], help="baselines at the same bytes (default both)")
    p.add_argument("--no-video", action="store_true", help="no side-by-side MP4")
    p.add_argument("--no-feedback", action="store_true",
                   help="our encoder hears no receiver reports (a one-way link); default: "
                        "each frame's fate one frame later, as from the decoder's FrameReport")
    p.add_argument("--jobs", type=int, default=0,
                   help="worker processes (default: the number of CPU cores)")
    p.add_argument("--force", action="store_true",
                   help="redo runs whose results already exist")


def run(args: argparse.Namespace) -> int:
    """Evaluate every bag at every setting; write the report."""
    import concurrent.futures
    import logging
    import multiprocessing

    from tqdm import tqdm

    from semcomm_ros.config import DECODER_NODE, ENCODER_NODE, load_node_config
    from semcomm_ros.evaluation import replay, settings
    from semcomm_ros.evaluation.report import write_report
    from semcomm_ros.node_config import DecoderNodeConfig, EncoderNodeConfig

    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    config = getattr(args, "config", None)
    enc = load_node_config(EncoderNodeConfig, ENCODER_NODE, config)
    dec = load_node_config(DecoderNodeConfig, DECODER_NODE, config)
    cfg, recon_cfg, budget_cfg = enc.codec, dec.reconstruction, enc.budget
    recon_cfg.backend = args.backend
    if args.trace:
        plan = [settings.from_trace(args.trace)]
    else:
        plan = [settings.fixed(k) for k in (args.budgets or DEFAULT_BUDGETS)]
    options = replay.ReplayOptions(feedback=not args.no_feedback,
                                   detect_every=max(0, args.detect_every),
                                   baselines=tuple(args.baselines), video=not args.no_video)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = args.jobs or os.cpu_count() or 1
    threads = max(1, (os.cpu_count() or 1) // jobs)

    bags, work = [], []
    names: set[str] = set()
    for path in args.bags:
        if not Path(path).exists():
            raise FileNotFoundError(f"no such bag: {path}")
        frames = replay.select_frames(path, args.topic, args.fps, args.max_frames, args.start)
        name = slug(Path(path).resolve().name)
        while name in names:
            name += "_"
        names.add(name)
        folder = out / "bags" / name
        folder.mkdir(parents=True, exist_ok=True)
        base = (str(Path(path).resolve()), bag_stat(path), frames.topic, frames.indices,
                asdict(cfg))
        det_file = folder / "detections.pkl"
        det_key = fingerprint(*base, "detections")
        cached = None
        if det_file.exists() and not args.force:
            try:
                with open(det_file, "rb") as fh:
                    cached = pickle.load(fh)
            except (OSError, pickle.PickleError, EOFError):
                cached = None
        if cached is None or cached.get("fingerprint") != det_key:
            bar = tqdm(total=len(frames.indices), desc=f"{name}: detector", unit="frame")
            dets, det_name = replay.detect_frames(frames, cfg, progress=bar.update)
            bar.close()
            with open(det_file, "wb") as fh:
                pickle.dump({"fingerprint": det_key, "detections": dets, "detector": det_name},
                            fh)
        else:
            det_name = cached["detector"]
            print(f"[eval] {name}: detections cached ({det_file})", file=sys.stderr)
        bags.append({"name": name, "path": str(path), "topic": frames.topic,
                     "msgtype": frames.msgtype, "frames": len(frames.indices),
                     "fps": frames.fps, "detector": det_name})
        for setting in plan:
            job_out = folder / slug(setting.name)
            key = fingerprint(*base, asdict(setting), asdict(recon_cfg), asdict(budget_cfg),
                              asdict(options), args.fps, "v1")
            done = job_out / "done.json"
            if not args.force and done.exists() and (job_out / "summary.json").exists() \
                    and json.loads(done.read_text()).get("fingerprint") == key:
                print(f"[eval] {name} {setting.name}: done before, kept", file=sys.stderr)
                continue
            if done.exists():
                done.unlink()
            work.append({"frames": frames, "detections": str(det_file), "setting": setting,
                         "cfg": cfg, "recon_cfg": recon_cfg, "budget_cfg": budget_cfg,
                         "out": str(job_out), "options": options, "fingerprint": key,
                         "bag": name})

    if work:
        # longest first (more bytes cost our encoder and WebP more; traces: the bag's length),
        # so that the pool's last run is a short one rather than one core finishing alone
        work.sort(key=lambda j: -len(j["frames"].indices) * (j["setting"].kbps or 1000.0))
        total = sum(len(j["frames"].indices) for j in work)
        bar = tqdm(total=total, desc=f"replay ({len(work)} runs, {jobs} jobs)", unit="frame")
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        with concurrent.futures.ProcessPoolExecutor(
                max_workers=min(jobs, len(work)), mp_context=ctx, initializer=_init_worker,
                initargs=(queue, threads)) as pool:
            futures = {pool.submit(_run_job, j): j for j in work}
            pending = set(futures)
            while pending:
                finished, pending = concurrent.futures.wait(pending, timeout=0.5)
                while not queue.empty():
                    bar.update(queue.get())
                for f in finished:
                    f.result()  # a worker's exception stops the run here
                    job = futures[f]
                    bar.write(f"[eval] {job['bag']} {job['setting'].name}: done")
            while not queue.empty():
                bar.update(queue.get())
        bar.close()
    command = "semcomm eval " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["eval"] \
        else " ".join([Path(sys.argv[0]).name] + sys.argv[1:])
    index = write_report(out, bags, plan, {
        "command": command, "backend": args.backend, "config": config,
        "options": asdict(options), "fps_limit": args.fps, "start": args.start,
        "max_frames": args.max_frames,
        "jobs": jobs, "wall_s": time.perf_counter() - started, "codec": asdict(cfg),
        "reconstruction": asdict(recon_cfg), "budget": asdict(budget_cfg),
        "trace": args.trace})
    print(f"[eval] wrote {index} ({time.perf_counter() - started:.0f} s)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` to ``semcomm``."""
    p = subparsers.add_parser("eval", help="replay rosbag2 bags through the codec and write "
                                           "an HTML report (rate-quality, video, worst frames)")
    add_arguments(p)
    p.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    """``python -m semcomm_ros.evaluation.cli`` (same options as ``semcomm eval``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
