"""`semcomm bench link`: the closed loop on a real shaped link between two namespaces.

Robot side (namespace 1): source node playing the sample bag as a camera, the
encoder node, and a probe recording what the encoder sent. Base side (namespace
2): link monitor, decoder, and a probe recording FrameReports, LinkStates and
the reconstructions the operator gets. Between them a veth pair whose
robot->base direction is a token bucket (tc tbf, 300 ms queue) whose rate
follows capacity traces (link_traces.py: a step 4 -> 0.5 -> 2 Mbit/s, a
sawtooth, a 10 s outage, or a CSV trace file), applied with ``tc qdisc change``
while the loop runs; an outage drops everything both ways (netns.py). DDS runs
over UDP only, so every frame really crosses the shaped link.

The same timeline is then run with baseline senders on the same link and
camera (link_baselines.py): fixed-quality JPEG best effort and reliable, and
x264 at a fixed bitrate. Writes ``link.md``, ``link.png`` and per-frame CSVs
(``link_frames*.csv``) under --out. Everything created (namespaces, veths,
qdiscs, processes) is removed on exit, Ctrl-C and errors included.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semcomm_ros.bench import link_traces as lt
from semcomm_ros.bench.link_traces import Phase, Trace
from semcomm_ros.bench.netns import UDP_ONLY_PROFILE, ShapedLink, netns_available
from semcomm_ros.bench.report import machine
from semcomm_ros.launcher import Graph, NodeProcess

SEMCOMM = "semcomm"
SENDERS = (SEMCOMM, "jpeg-be", "jpeg-rel", "x264")
#: seconds after a phase starts that its goodput and latency leave out (the 2 s target)
SETTLE_S = 2.0
TARGETS = {"converge_s": 2.0, "goodput": 0.85, "in_budget": 0.995, "p95_ms": 300.0,
           "resume_s": 1.0, "rss_growth": 0.10}


@dataclass
class Run:
    """Raw result of one sender over the timeline (absolute epoch times)."""

    sender: str
    t0: float
    applied: list[tuple[float, int]]          # (epoch s, kbit) as applied with tc
    base: list[dict] = field(default_factory=list)
    robot: list[dict] = field(default_factory=list)
    rss: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # node -> (t, MiB)
    namespaces: tuple[str, ...] = ()          # the robot and base namespaces it made
    cpu: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # node -> (t, CPU s)


def _link_overrides(fps: float) -> dict:
    """Link monitor overrides that exist in the current LinkConfig (others may change it)."""
    from semcomm_ros.link.estimator import LinkConfig
    names = {f.name for f in dataclasses.fields(LinkConfig)}
    return {"link.frame_rate": fps} if "frame_rate" in names else {}


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def run_experiment(timeline: Trace, fps: float, work: Path, sender: str = SEMCOMM,
                   start: int = 600, sample: str | None = None, x264_kbit: int = 1000,
                   jpeg_quality: int = 50, psnr_every: int = 5,
                   start_timeout: float = 180.0, log=print) -> Run:
    """Run one sender over ``timeline`` on a shaped link; returns what the probes recorded."""
    work.mkdir(parents=True, exist_ok=True)
    profile = work / "fastdds_udp.xml"
    profile.write_text(UDP_ONLY_PROFILE)
    env = {"FASTDDS_DEFAULT_PROFILES_FILE": str(profile)}
    originals = work / "originals"
    originals.mkdir(exist_ok=True)
    # psnr_every 0: no PSNR, and the robot probe does not subscribe to the raw camera
    orig = str(originals) if psnr_every > 0 else ""
    psnr_every = max(1, psnr_every)
    stop = work / "stop"
    stop.unlink(missing_ok=True)
    py = sys.executable
    with ShapedLink(timeline.points[0][1]) as link:
        robot, base = link.exec_prefix("robot"), link.exec_prefix("base")
        qos = {"qos.camera_reliability": "reliable"}  # camera -> encoder is local, over UDP here
        source = {"start_index": start, "loop": True, "rate_hz": fps, **qos}
        if sample:
            source["source"] = sample
        if sender == SEMCOMM:
            nodes = [
                NodeProcess("encoder_node", {"use_link_state": True, **qos}, robot),
                NodeProcess("link_monitor_node", _link_overrides(fps), base),
                NodeProcess("decoder_node", {"reconstruction.backend": "none",
                                             "topics.composite": "", "topics.weight_map": "",
                                             "compressed_output": True,
                                             "compressed_quality": 95}, base),
                NodeProcess("source_node", source, robot)]
            extra = [
                [*base, py, "-m", "semcomm_ros.bench.link_probe", "--side", "base",
                 "--out", str(work / "base.csv"), "--stop", str(stop),
                 "--originals", orig],
                [*robot, py, "-m", "semcomm_ros.bench.link_probe", "--side", "robot",
                 "--out", str(work / "robot.csv"), "--stop", str(stop),
                 "--originals", orig, "--every", str(psnr_every)]]
        else:
            nodes = [NodeProcess("source_node", source, robot)]
            common = ["--kind", sender, "--stop", str(stop), "--originals", orig,
                      "--every", str(psnr_every), "--fps", str(fps)]
            extra = [
                [*base, py, "-m", "semcomm_ros.bench.link_baselines", "--role", "receive",
                 "--out", str(work / "base.csv"), *common],
                [*robot, py, "-m", "semcomm_ros.bench.link_baselines", "--role", "send",
                 "--out", str(work / "robot.csv"), "--quality", str(jpeg_quality),
                 "--kbit", str(x264_kbit), *common]]
        graph = Graph(nodes, env=env, log_dir=work / "logs")
        procs: list[subprocess.Popen] = []
        run = None
        try:
            with graph:
                logs = work / "logs"
                for i, cmd in enumerate(extra):
                    with open(logs / f"probe{i}.log", "w") as fh:
                        procs.append(subprocess.Popen(cmd, env=graph.env, stdout=fh,
                                                      stderr=subprocess.STDOUT))
                started = work / "base.started"
                deadline = time.monotonic() + start_timeout
                while not started.exists():
                    if time.monotonic() > deadline or any(p.poll() is not None for p in procs) \
                            or graph.failed():
                        raise RuntimeError(f"{sender}: no frame crossed the link; see {logs} "
                                           f"(exited: {graph.failed()})")
                    time.sleep(0.1)
                t0 = time.time()
                run = Run(sender, t0, [(t0, timeline.points[0][1])],
                          namespaces=(link.robot, link.base))
                pids = {n.node: n.process.pid for n in nodes if n.process}
                pids.update({f"probe{i}": p.pid for i, p in enumerate(procs)})
                pending = list(timeline.points[1:])
                next_rss = t0
                while True:
                    now = time.time()
                    if now - t0 >= timeline.duration_s:
                        break
                    while pending and now - t0 >= pending[0][0]:
                        _, kbit = pending.pop(0)
                        link.set_rate(kbit)
                        run.applied.append((time.time(), kbit))
                    if now >= next_rss:
                        for name, pid in pids.items():
                            run.rss.setdefault(name, []).append((now - t0, _rss_mib(pid)))
                            run.cpu.setdefault(name, []).append((now - t0, _cpu_s(pid)))
                        next_rss += 2.0
                    time.sleep(0.02)
                stop.write_text("1")
                for p in procs:
                    try:
                        p.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        log(f"{sender}: a probe did not stop; killed")
        finally:
            stop.write_text("1")
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    run.base = _read_csv(work / "base.csv")
    run.robot = _read_csv(work / "robot.csv")
    return run


# ---------------------------------------------------------------- per-frame table


def _f(row: dict, key: str) -> float:
    v = row.get(key, "")
    try:
        return float(v) if v not in ("", None) else float("nan")
    except ValueError:
        return float("nan")


def applied_points(run: Run) -> list[tuple[float, int]]:
    """(t relative to t0, kbit) as the link really had it."""
    return [(t - run.t0, k) for t, k in run.applied]


def frames_table(run: Run) -> list[dict]:
    """One row per frame the sender sent (times in s relative to t0, latency in ms)."""
    t0, pts = run.t0, applied_points(run)
    sent = [r for r in run.robot if r.get("kind") == "sent"]
    if run.sender == SEMCOMM:
        reports = {int(r["sequence"]): r for r in run.base if r.get("kind") == "report"}
        links = sorted((_f(r, "t"), r) for r in run.base if r.get("kind") == "link")
        link_t = [t for t, _ in links]
    else:
        reports, links, link_t = {}, [], []
    images: dict[int, dict] = {}
    for r in run.base:
        if r.get("kind") in ("image", "received"):
            images.setdefault(int(r["stamp_ns"]), r)
    rows = []
    for s in sent:
        stamp = int(s["stamp_ns"])
        cam = stamp / 1e9 - t0
        send = _f(s, "send_ns") / 1e9 - t0 if s.get("send_ns") else _f(s, "t") - t0
        img = images.get(stamp)
        recon = _f(img, "t") - t0 if img else float("nan")
        row = {"sequence": int(s["sequence"]) if s.get("sequence") else "",
               "camera_s": round(cam, 4), "send_s": round(send, 4),
               "receive_s": "", "recon_s": round(recon, 4) if img else "",
               "latency_ms": round((recon - cam) * 1000, 1) if img else "",
               "bytes": int(float(s["bytes"])), "budget": s.get("budget", ""),
               "estimate_kbit": "", "capacity_kbit": lt.capacity_at(pts, send),
               "decoded_ok": int(bool(img)) if run.sender != SEMCOMM else "",
               "picture_updated": "", "texture_mode": s.get("texture_mode", ""),
               "psnr": img.get("psnr", "") if img else "",
               "psnr_key": img.get("psnr_key", "") if img else "",
               "encode_ms": s.get("encode_ms", "")}
        if run.sender == SEMCOMM:
            rep = reports.get(int(s["sequence"]))
            if rep:
                row["receive_s"] = round(_f(rep, "receive_ns") / 1e9 - t0, 4)
                row["decoded_ok"] = rep["decoded_ok"]
                row["picture_updated"] = rep.get("picture_updated", "")
            i = int(np.searchsorted(link_t, send + t0)) - 1
            if i >= 0:
                row["estimate_kbit"] = round(_f(links[i][1], "estimate_bps") / 1000, 1)
        else:
            row["decoded_ok"] = int(img.get("decoded", "1") == "1") if img else 0
            if img:
                row["receive_s"] = round(_f(img, "t") - t0, 4)
        rows.append(row)
    return rows


FRAME_FIELDS = ["sequence", "camera_s", "send_s", "receive_s", "recon_s", "latency_ms", "bytes",
                "budget", "estimate_kbit", "capacity_kbit", "decoded_ok", "picture_updated",
                "texture_mode", "psnr", "psnr_key", "encode_ms"]


def write_frames(rows: list[dict], path: Path) -> None:
    """The per-frame CSV."""
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, FRAME_FIELDS)
        w.writeheader()
        w.writerows(rows)


# ---------------------------------------------------------------- summaries


@dataclass
class PhaseStats:
    """What one sender achieved in one phase."""

    phase: Phase
    capacity_kbit: float
    goodput_kbit: float
    utilisation: float
    p50_ms: float
    p95_ms: float
    fps: float                 # frames reaching the operator per second
    updates_fps: float         # ... of which brought a new picture (semcomm)
    delivered: float           # frames delivered / frames sent
    in_budget: float
    psnr_key: float
    psnr: float
    estimate_kbit: float
    encode_p50_ms: float = float("nan")   # camera stamp -> sent (detector + codec)
    network_p50_ms: float = float("nan")  # sent -> received by the decoder (link + queue)
    network_p95_ms: float = float("nan")
    codec_p50_ms: float = float("nan")    # the encoder's own time per frame (encode_time_ms)
    sent_kbit: float = float("nan")       # payload the sender offered per second
    app_limited: float = float("nan")     # share of frames under APP_LIMITED x their budget

    @property
    def offered_utilisation(self) -> float:
        """Goodput / min(capacity, offered): what the link carried of what it could carry.

        An app-limited sender, whose codec needs less than its budget, cannot fill a link
        (BBR marks such samples app-limited too).
        """
        room = min(self.capacity_kbit, self.sent_kbit)
        return self.goodput_kbit / room if room > 0 else float("nan")


#: a frame under this share of its budget was app-limited (the codec needed no more)
APP_LIMITED = 0.8


def phase_stats(frames: list[dict], phase: Phase, points, settle_s: float = SETTLE_S,
                link_rows: list[tuple[float, float]] | None = None) -> PhaseStats:
    """Statistics of one phase, leaving out its first ``settle_s``.

    Goodput (bytes received), latency of the frames captured then, frames per second
    delivered, share within budget, PSNR, estimate.
    """
    a, b = phase.start_s + min(settle_s, phase.duration_s / 2), phase.end_s
    cap = lt.mean_capacity(points, a, b)
    got = [f for f in frames if f["receive_s"] != "" and a <= float(f["receive_s"]) < b]
    goodput = 8 * sum(int(f["bytes"]) for f in got) / (b - a) / 1000
    shot = [f for f in frames if a <= float(f["camera_s"]) < b]
    lat = [float(f["latency_ms"]) for f in shot if f["latency_ms"] != ""]
    shown = [f for f in frames if f["recon_s"] != "" and a <= float(f["recon_s"]) < b]
    updates = [f for f in got if str(f["picture_updated"]) in ("1", "True", "")]
    budgeted = [f for f in shot if f["budget"] not in ("", None)]
    in_budget = (sum(int(f["bytes"]) <= int(float(f["budget"])) for f in budgeted)
                 / len(budgeted)) if budgeted else float("nan")

    def med(key):
        return lt.percentile([float(f[key]) for f in frames if f[key] != ""
                              and a <= float(f["camera_s"]) < b], 50)

    enc = [1000 * (float(f["send_s"]) - float(f["camera_s"])) for f in shot]
    net = [1000 * (float(f["receive_s"]) - float(f["send_s"])) for f in shot
           if f["receive_s"] != ""]
    codec = lt.percentile([float(f["encode_ms"]) for f in shot
                           if f.get("encode_ms") not in ("", None)], 50)
    sent = [f for f in frames if a <= float(f["send_s"]) < b]
    sent_kbit = 8 * sum(int(f["bytes"]) for f in sent) / (b - a) / 1000
    limited = (sum(int(f["bytes"]) < APP_LIMITED * float(f["budget"]) for f in budgeted)
               / len(budgeted)) if budgeted else float("nan")
    est = float("nan")
    if link_rows:
        est = lt.percentile([e for t, e in link_rows if a <= t < b], 50)
    return PhaseStats(phase, cap, goodput, goodput / cap if cap > 0 else float("nan"),
                      lt.percentile(lat, 50), lt.percentile(lat, 95), len(shown) / (b - a),
                      len(updates) / (b - a), len(lat) / len(shot) if shot else float("nan"),
                      in_budget, med("psnr_key"), med("psnr"), est, lt.percentile(enc, 50),
                      lt.percentile(net, 50), lt.percentile(net, 95), codec, sent_kbit, limited)


def link_series(run: Run, column: str = "") -> list[tuple[float, float]]:
    """(t, kbit/s) of the link monitor's capacity estimate.

    ``capacity_bps`` (the estimator's capacity: a max filter of the delivered rate)
    where LinkState has it, else ``estimated_throughput_bps``; ``column`` picks one.
    """
    rows = [r for r in run.base if r.get("kind") == "link"]
    if not column:
        column = "capacity_bps" if any(r.get("capacity_bps", "") != "" for r in rows) \
            else "estimate_bps"
    return [(_f(r, "t") - run.t0, _f(r, column) / 1000) for r in rows
            if r.get(column, "") != ""]


def state_names() -> dict[int, str]:
    """LinkState.STATE_* value -> name (aliases joined)."""
    try:
        from semcomm_ros.msg import LinkState
    except ImportError:
        return {}
    names: dict[int, list[str]] = {}
    for attr in dir(LinkState):
        if attr.startswith("STATE_") and isinstance(getattr(LinkState, attr), int):
            names.setdefault(getattr(LinkState, attr), []).append(attr[6:])
    return {v: "/".join(sorted(n)) for v, n in names.items()}


def write_link_states(run: Run, path: Path) -> None:
    """The link monitor's LinkStates over time beside the true capacity (CSV)."""
    pts, names = applied_points(run), state_names()
    cols = ["t", "true_capacity_kbit", "capacity_kbit", "target_kbit", "delivered_kbit",
            "budget_bytes", "frame_rate", "queue_delay_ms", "loss", "state", "state_name"]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        for r in run.base:
            if r.get("kind") != "link":
                continue
            t = _f(r, "t") - run.t0
            state = int(_f(r, "state")) if r.get("state", "") != "" else -1
            w.writerow({"t": round(t, 3), "true_capacity_kbit": lt.capacity_at(pts, t),
                        "capacity_kbit": round(_f(r, "capacity_bps") / 1000, 1),
                        "target_kbit": round(_f(r, "estimate_bps") / 1000, 1),
                        "delivered_kbit": round(_f(r, "delivered_bps") / 1000, 1),
                        "budget_bytes": r.get("budget_bytes", ""),
                        "frame_rate": r.get("frame_rate", ""),
                        "queue_delay_ms": r.get("queue_delay_ms", ""), "loss": r.get("loss", ""),
                        "state": state, "state_name": names.get(state, "")})


def convergence(run: Run, timeline: Trace) -> list[tuple[float, int, int, float]]:
    """(step time, from, to, seconds until the estimate stays within +-20 %) per large step."""
    series = link_series(run)
    times, est = [t for t, _ in series], [e for _, e in series]
    return [(t, a, b, lt.convergence_time(times, est, b, t, until))
            for t, a, b, until in lt.steps(timeline.points, timeline.duration_s)]


def resume_after_outage(frames: list[dict], timeline: Trace) -> list[tuple[float, float]]:
    """(time the link came back, seconds until the next frame was received)."""
    out = []
    received = sorted(float(f["receive_s"]) for f in frames if f["receive_s"] != "")
    for (_, k0), (t, k) in zip(timeline.points, timeline.points[1:]):
        if k0 == 0 and k > 0:
            out.append((t, lt.first_after(received, t)))
    return out


def cpu_share(run: Run) -> dict[str, float]:
    """Process name -> mean CPU use over the trace, in cores (1.0 = one core busy)."""
    out = {}
    for name, series in run.cpu.items():
        vals = [(t, c) for t, c in series if not math.isnan(c)]
        if len(vals) >= 2 and vals[-1][0] > vals[0][0]:
            out[name] = (vals[-1][1] - vals[0][1]) / (vals[-1][0] - vals[0][0])
    return out


def rss_growth(run: Run) -> dict[str, tuple[float, float]]:
    """Node name -> (MiB after the first 10 s, MiB at the end)."""
    out = {}
    for name, series in run.rss.items():
        if name.startswith("probe"):  # the probes keep every row: they grow by design
            continue
        vals = [(t, m) for t, m in series if not math.isnan(m)]
        if len(vals) < 2:
            continue
        later = [m for t, m in vals if t >= 10.0] or [vals[-1][1]]
        out[name] = (later[0], vals[-1][1])
    return out


# ---------------------------------------------------------------- report


def _fmt(x: float, spec: str = ".0f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def plot(runs: dict[str, Run], tables: dict[str, list[dict]], timeline: Trace,
         path: Path) -> None:
    """Capacity vs estimate; goodput per sender; latency; key-object PSNR, over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(11, 12), sharex=True)
    end = timeline.duration_s
    pts = timeline.points
    cx = [t for t, _ in pts] + [end]
    cy = [k for _, k in pts] + [pts[-1][1]]
    top = max(k for _, k in pts) * 1.6
    ours = runs.get(SEMCOMM)
    ax = axes[0]
    ax.step(cx, cy, where="post", color="k", lw=2, label="true capacity (tbf)")
    if ours is not None:
        for col, lab, lw in (("capacity_bps", "capacity estimate (LinkState.capacity_bps)", 1.6),
                             ("estimate_bps", "target (LinkState.estimated_throughput_bps)",
                              1.0)):
            s = link_series(ours, col)
            if s:
                ax.step([t for t, _ in s], [e for _, e in s], where="post", lw=lw, label=lab)
        fr = tables[SEMCOMM]
        sent = np.array([float(f["send_s"]) for f in fr])
        bt = [(float(f["send_s"]), float(f["budget"])) for f in fr if f["budget"] != ""]
        if len(bt) > 2:  # budget x the frames actually sent in the last second
            t = np.array([x for x, _ in bt])
            per_s = [((sent > x - 1) & (sent <= x)).sum() for x in t]
            ax.plot(t, [8 * b / 1000 * r for (_, b), r in zip(bt, per_s)], lw=0.6, alpha=0.7,
                    label="budget x frames sent in the last 1 s")
        # the estimator's state as a band along the bottom
        names = state_names()
        st = [(_f(r, "t") - ours.t0, int(_f(r, "state"))) for r in ours.base
              if r.get("kind") == "link" and r.get("state", "") != ""]
        colours = plt.get_cmap("tab10")
        seen: set[int] = set()
        for (t, code), nxt in zip(st, [t for t, _ in st[1:]] + [end]):
            ax.axvspan(t, nxt, ymin=0, ymax=0.04, color=colours(code % 10), lw=0,
                       label=f"state {names.get(code, code)}" if code not in seen else None)
            seen.add(code)
    for p in timeline.phases:
        ax.axvline(p.start_s, color="grey", lw=0.5, ls=":")
    ax.set_ylim(0, top)
    ax.set_ylabel("kbit/s")
    ax.set_title("semcomm loop: estimate vs true capacity")
    ax.legend(fontsize=7, loc="upper right")
    ax = axes[1]
    ax.step(cx, cy, where="post", color="k", lw=2, label="capacity")
    bins = np.arange(0, end + 1, 1.0)
    for name, fr in tables.items():
        t = np.array([float(f["receive_s"]) for f in fr if f["receive_s"] != ""])
        b = np.array([int(f["bytes"]) for f in fr if f["receive_s"] != ""])
        good = [8 * b[(t >= s) & (t < s + 1)].sum() / 1000 for s in bins[:-1]]
        ax.plot(bins[:-1] + 0.5, good, lw=1, label=f"goodput {name}")
    ax.set_ylim(0, top)
    ax.set_ylabel("kbit/s (1 s bins)")
    ax.legend(fontsize=7, loc="upper right")
    ax = axes[2]
    for name, fr in tables.items():
        v = [(float(f["camera_s"]), float(f["latency_ms"])) for f in fr if f["latency_ms"] != ""]
        ax.plot([t for t, _ in v], [x for _, x in v], ".", ms=2, label=name)
    ax.axhline(300, color="r", lw=0.8, ls="--", label="300 ms target")
    ax.set_yscale("log")
    ax.set_ylabel("camera -> operator ms")
    ax.legend(fontsize=7, loc="upper right")
    ax = axes[3]
    for name, fr in tables.items():
        key = "psnr_key" if name == SEMCOMM else "psnr"
        v = [(float(f["camera_s"]), float(f[key])) for f in fr if f[key] not in ("", "nan")]
        v = [(t, x) for t, x in v if not math.isnan(x)]
        ax.plot([t for t, _ in v], [x for _, x in v], ".", ms=4,
                label=f"{name} {'key-object' if name == SEMCOMM else 'full-frame'} PSNR")
    ax.set_ylabel("PSNR dB")
    ax.set_xlabel("time s")
    ax.legend(fontsize=7, loc="lower right")
    for a in axes:
        a.grid(alpha=0.3)
        for (t, k), nxt in zip(pts, [t for t, _ in pts[1:]] + [end]):
            if k == 0:
                a.axvspan(t, nxt, color="grey", alpha=0.15, lw=0)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def analyse(runs: dict[str, Run], timeline: Trace) -> dict:
    """Per-sender tables and per-phase statistics, convergence, resume, memory."""
    tables = {name: frames_table(run) for name, run in runs.items()}
    stats = {}
    for name, run in runs.items():
        links = link_series(run) if name == SEMCOMM else None
        pts = applied_points(run)
        stats[name] = [phase_stats(tables[name], p, pts, link_rows=links)
                       for p in timeline.phases]
    ours = runs.get(SEMCOMM)
    return {"tables": tables, "stats": stats,
            "convergence": convergence(ours, timeline) if ours else [],
            "resume": {n: resume_after_outage(t, timeline) for n, t in tables.items()},
            "rss": rss_growth(ours) if ours else {},
            "cpu": {n: cpu_share(r) for n, r in runs.items()}}


def targets(result: dict) -> list[tuple[str, bool | None, str]]:
    """(target, pass/MISS/None = not measured, evidence) per issue target."""
    out = []
    conv = result["convergence"]
    if conv:
        worst = max((c for *_, c in conv), key=lambda c: math.inf if math.isnan(c) else c)
        out.append(("estimate within +-20 % of the shaped rate within 2 s of a step",
                    not math.isnan(worst) and worst <= TARGETS["converge_s"],
                    f"worst {'never' if math.isnan(worst) else f'{worst:.1f} s'} over "
                    f"{len(conv)} steps ({sum(c <= 2 for *_, c in conv)} within 2 s)"))
    ours = result["stats"].get(SEMCOMM, [])
    live = [s for s in ours if s.capacity_kbit > 0]
    if live:
        worst = min(live, key=lambda s: s.utilisation if not math.isnan(s.utilisation) else 0)
        out.append(("goodput >= 85 % of capacity in every phase",
                    worst.utilisation >= TARGETS["goodput"],
                    f"worst {worst.utilisation:.0%} ({worst.phase.name})"))
        worst = min(live, key=lambda s: s.offered_utilisation
                    if not math.isnan(s.offered_utilisation) else 0)
        out.append(("(not an issue target) goodput >= 85 % of min(capacity, what the "
                     "sender offered) in every phase",
                    worst.offered_utilisation >= TARGETS["goodput"],
                    f"worst {worst.offered_utilisation:.0%} ({worst.phase.name}; app-limited "
                    f"frames there {_fmt(worst.app_limited * 100)} %)"))
        tb = [s.in_budget for s in live if not math.isnan(s.in_budget)]
        tables = result["tables"][SEMCOMM]
        budgeted = [f for f in tables if f["budget"] not in ("", None)]
        share = (sum(int(f["bytes"]) <= int(float(f["budget"])) for f in budgeted)
                 / len(budgeted)) if budgeted else float("nan")
        out.append((">= 99.5 % of frames inside their budget",
                    bool(tb) and share >= TARGETS["in_budget"],
                    f"{share:.2%} of {len(budgeted)} frames"))
        worst = max(live, key=lambda s: s.p95_ms if not math.isnan(s.p95_ms) else math.inf)
        out.append(("p95 end-to-end latency <= 300 ms in every phase",
                    worst.p95_ms <= TARGETS["p95_ms"],
                    f"worst p95 {_fmt(worst.p95_ms)} ms ({worst.phase.name})"))
    res = result["resume"].get(SEMCOMM, [])
    if res:
        worst = max((r for _, r in res), key=lambda r: math.inf if math.isnan(r) else r)
        out.append(("after a 10 s outage, frames flow again within 1 s of the link's return",
                    not math.isnan(worst) and worst <= TARGETS["resume_s"],
                    f"first frame {_fmt(worst, '.2f')} s after the return"))
    rss = result["rss"]
    if rss:
        growth = {n: (b - a) / a for n, (a, b) in rss.items() if a > 0}
        name = max(growth, key=growth.get)
        out.append(("memory flat", growth[name] <= TARGETS["rss_growth"],
                    f"largest RSS growth after 10 s: {name} {growth[name]:+.1%} "
                    f"({rss[name][0]:.0f} -> {rss[name][1]:.0f} MiB)"))
    return out


def write_report(result: dict, timeline: Trace, out: Path, command: str, fps: float,
                 notes: dict) -> Path:
    """``link.md`` under ``out``."""
    lines = [
        "# Link benchmark: the closed loop on a shaped link",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {machine()}",
        f"- command: `{command}`",
        f"- code: {notes.get('commit', '?')}",
        "- setup: robot and base station in two network namespaces joined by a veth pair; "
        "robot->base shaped by `tc tbf` (queue latency 300 ms) whose rate follows the trace "
        "(`tc qdisc change`); an outage replaces the qdisc of both ends with `blackhole` "
        "(drops everything, both ways). DDS over UDPv4 only. Camera: the sample bag's "
        f"held-out frames looped at {fps:g} frames/s; decoder backend `none` (composite = "
        "the operator's picture).",
        f"- traces: {timeline.name} ({timeline.duration_s:g} s); per phase, the first "
        f"{SETTLE_S:g} s are left out of goodput, latency and fps (the 2 s convergence "
        "target).",
        "- goodput: payload bytes the decoder/receiver got (FrameReport.bytes; for the "
        "baselines, the CompressedImage data) per second, against the mean tbf rate; "
        "latency: camera stamp -> the operator's picture received by the base probe (our "
        "loop: the decoder's JPEG copy of the reconstruction, `compressed_output`, "
        "published right after the Image; baselines: the decoded picture), one host clock; "
        "PSNR: every 5th frame against the original of the same stamp (ours: key objects = "
        "the frame's detected boxes; baselines: full frame); sent: payload the sender "
        "published per second; app-limited: frames under "
        f"{APP_LIMITED:.0%} of their byte budget (the codec had nothing more worth sending: "
        "such a sender cannot fill the link, and its delivered rate says nothing of the "
        "capacity).",
        "",
        "## Targets (issue 10)",
        "",
        "| target | result | measured |",
        "|---|---|---|",
    ]
    for name, ok, evidence in targets(result):
        lines.append(f"| {name} | {'pass' if ok else 'MISS'} | {evidence} |")
    lines += ["", "## Per phase", "",
              "| sender | phase | capacity kbit/s | goodput kbit/s | goodput / capacity "
              "| p50 ms | p95 ms | frames/s to operator | new pictures/s | frames delivered "
              "| in budget | capacity estimate kbit/s | key PSNR dB | PSNR dB "
              "| sent kbit/s | app-limited frames |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, stats in result["stats"].items():
        for s in stats:
            lines.append(
                f"| {name} | {s.phase.name} ({s.phase.start_s:g}-{s.phase.end_s:g} s) "
                f"| {_fmt(s.capacity_kbit)} | {_fmt(s.goodput_kbit)} "
                f"| {_fmt(s.utilisation * 100) + ' %' if s.capacity_kbit > 0 else '-'} "
                f"| {_fmt(s.p50_ms)} | {_fmt(s.p95_ms)} | {_fmt(s.fps, '.1f')} "
                f"| {_fmt(s.updates_fps, '.1f') if name == SEMCOMM else '-'} "
                f"| {_fmt(s.delivered * 100) + ' %' if not math.isnan(s.delivered) else '-'} "
                f"| {_fmt(s.in_budget * 100, '.1f') + ' %' if not math.isnan(s.in_budget) else '-'}"
                f" | {_fmt(s.estimate_kbit)} | {_fmt(s.psnr_key, '.1f')} | {_fmt(s.psnr, '.1f')} "
                f"| {_fmt(s.sent_kbit)} "
                f"| {_fmt(s.app_limited * 100) + ' %' if not math.isnan(s.app_limited) else '-'} |")
    lines += ["", "## Where the latency goes (p50 / p95 ms)", "",
              "encode: camera stamp -> published by the sender (waiting for the encoder, "
              "detector + codec, publishing); codec: the encoder's own time on the frame "
              "(`encode_time_ms`); network: published -> received at the base (queue in the "
              "tbf, DDS); the rest of the end-to-end figure is decoding and publishing the "
              "picture.", "",
              "| sender | phase | encode p50 | codec p50 | network p50 | network p95 "
              "| end-to-end p95 |",
              "|---|---|---|---|---|---|---|"]
    for name, stats in result["stats"].items():
        for s in stats:
            if s.capacity_kbit > 0:
                lines.append(f"| {name} | {s.phase.name} ({s.phase.start_s:g}-{s.phase.end_s:g}"
                             f" s) | {_fmt(s.encode_p50_ms)} | {_fmt(s.codec_p50_ms)} "
                             f"| {_fmt(s.network_p50_ms)} | {_fmt(s.network_p95_ms)} "
                             f"| {_fmt(s.p95_ms)} |")
    if result["convergence"]:
        lines += ["", "## Convergence after each step", "",
                  "First time after the step from which the link monitor's estimate stays "
                  "within +-20 % of the new capacity until the next change.", "",
                  "| step at s | from kbit/s | to kbit/s | converged after s |",
                  "|---|---|---|---|"]
        for t, a, b, c in result["convergence"]:
            lines.append(f"| {t:g} | {a or 'outage'} | {b} | "
                         f"{_fmt(c, '.1f') if not math.isnan(c) else 'never'} |")
    res = [(n, r) for n, rr in result["resume"].items() for r in rr]
    if res:
        lines += ["", "## After the outage", "",
                  "| sender | link back at s | first frame received after s |", "|---|---|---|"]
        for name, (t, r) in res:
            lines.append(f"| {name} | {t:g} | {_fmt(r, '.2f')} |")
    if result["rss"]:
        lines += ["", "## Memory (RSS, MiB, after 10 s -> end)", ""]
        lines += [f"- {n}: {a:.0f} -> {b:.0f}" for n, (a, b) in result["rss"].items()]
    if any(result.get("cpu", {}).values()):
        lines += ["", "## CPU use over the trace (cores; the machine has 2)", ""]
        for name, shares in result["cpu"].items():
            lines.append(f"- {name}: " + ", ".join(f"{n} {c:.2f}" for n, c in shares.items()))
    lines += ["", "![capacity, estimate, goodput, latency and PSNR over time](link.png)", "",
              "Per-frame CSVs: " + ", ".join(f"`{p}`" for p in notes.get("csv", [])) + " "
              "(times in s from the start of the trace; `estimate_kbit`: the LinkState target "
              "in force when the frame was sent; `capacity_kbit`: the tbf rate then; "
              "`link_states.csv`: every LinkState beside the true capacity). The capacity "
              "estimate (convergence, tables) is `LinkState.capacity_bps` where the message "
              "has it, else `estimated_throughput_bps`.",
              ""]
    for n in notes.get("extra", []):
        lines.append(n)
    path = out / "link.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent).stdout.strip() or "?"
    except OSError:
        return "?"


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _run(args: argparse.Namespace) -> int:
    # SIGTERM (and SIGINT, which shells ignore in background jobs) unwind through the
    # context managers, which remove the namespaces, qdiscs and processes
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    reason = netns_available()
    if reason:
        print(f"semcomm bench link: {reason}", file=sys.stderr)
        return 2
    try:
        timeline = lt.concat(lt.select(args.traces, args.trace))
    except (ValueError, OSError) as exc:
        print(f"semcomm bench link: {exc}", file=sys.stderr)
        return 2
    senders = [s for s in args.senders.split(",") if s]
    bad = [s for s in senders if s not in SENDERS]
    if bad:
        print(f"semcomm bench link: unknown sender {bad}: {SENDERS}", file=sys.stderr)
        return 2
    live = [(b - a, k) for (a, k), b in zip(timeline.points, [t for t, _ in timeline.points[1:]]
                                             + [timeline.duration_s]) if k > 0]
    kbit = args.x264_kbit or int(round(sum(d * k for d, k in live) / sum(d for d, _ in live)))
    load0 = os.getloadavg()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(prefix="semcomm-link-") as tmp:
        if args.work:
            tmp = args.work
        for sender in senders:
            print(f"[bench link] {sender}: {timeline.name}, {timeline.duration_s:g} s",
                  flush=True)
            try:
                runs[sender] = run_experiment(timeline, args.fps, Path(tmp) / sender, sender,
                                              start=args.start, x264_kbit=kbit,
                                              jpeg_quality=args.jpeg_quality,
                                              psnr_every=args.psnr_every)
            except RuntimeError as exc:
                print(f"[bench link] {exc}", file=sys.stderr)
                for f in sorted((Path(tmp) / sender / "logs").glob("*.log")):
                    tail = f.read_text(errors="replace").strip().splitlines()[-5:]
                    print(f"--- {f.name}\n" + "\n".join(tail), file=sys.stderr)
                if sender == SEMCOMM:
                    return 1
    load1 = os.getloadavg()
    result = analyse(runs, timeline)
    csvs = []
    for name, rows in result["tables"].items():
        p = out / ("link_frames.csv" if name == SEMCOMM else f"link_frames_{name}.csv")
        write_frames(rows, p)
        csvs.append(p.name)
    if SEMCOMM in runs:
        write_link_states(runs[SEMCOMM], out / "link_states.csv")
        csvs.append("link_states.csv")
    plot(runs, result["tables"], timeline, out / "link.png")
    cmd = "semcomm bench link " + " ".join(sys.argv[3:]) if len(sys.argv) > 3 else \
        "semcomm bench link"
    notes = {"commit": _commit(), "csv": csvs, "extra": [
        f"Baselines: JPEG quality {args.jpeg_quality} as sensor_msgs/CompressedImage "
        "(`jpeg-be`: best effort keep-last 1; `jpeg-rel`: reliable keep-last 5); `x264`: "
        f"libx264 ultrafast/zerolatency at {kbit} kbit/s (VBV-capped; the time-weighted "
        "mean of the trace's rates outside outages), keyframe every 2 s, reliable keep-last 50.",
        "",
        f"Host load average (1 min) before / after the runs: {load0[0]:.1f} / {load1[0]:.1f} "
        "on 2 cores (other work on the machine shares the CPUs with the nodes)."]}
    path = write_report(result, timeline, out, cmd.strip(), args.fps, notes)
    print(path.read_text())
    return 0


def register(subparsers) -> None:
    """Add ``link`` to ``semcomm bench``."""
    p = subparsers.add_parser("link", help="closed loop on a shaped link (root, netns)")
    p.add_argument("--traces", default="step,sawtooth,outage",
                   help="capacity traces, in order: step (4 -> 0.5 -> 2 Mbit/s, 15 s each), "
                        "sawtooth (0.5 -> 2 Mbit/s ramps), outage (10 s dead); '' for none")
    p.add_argument("--trace", default=None,
                   help="CSV trace file (time_s,rate_kbit; rate 0 = outage), after --traces")
    p.add_argument("--senders", default=",".join(SENDERS),
                   help=f"what to run over the timeline: {', '.join(SENDERS)}")
    p.add_argument("--fps", type=float, default=5.0, help="camera frame rate")
    p.add_argument("--start", type=int, default=600, help="first frame of the sample bag")
    p.add_argument("--x264-kbit", type=int, default=0,
                   help="x264 baseline bitrate (0: mean rate of the trace)")
    p.add_argument("--jpeg-quality", type=int, default=50)
    p.add_argument("--psnr-every", type=int, default=5,
                   help="score every N-th frame against its original (0: no PSNR; the robot "
                        "probe then does not subscribe to the raw camera)")
    p.add_argument("--out", default="docs/benchmarks")
    p.add_argument("--work", default="", help="keep the raw probe CSVs and node logs here")
    p.set_defaults(func=_run)

