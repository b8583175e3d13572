"""The evaluation report: ``index.html`` with its plots beside it, and the raw numbers.

Everything the page shows is a file in the report folder (PNG plots written with
matplotlib, the MP4 and JPEG pictures of each run, no script or style from the
network), so it opens offline from ``file://``. A small inline script marks every
picture and video that loaded (``data-ok``), which the headless-browser test reads.
"""
from __future__ import annotations

import csv
import datetime
import html
import json
import math
import os
import platform
import subprocess
from pathlib import Path

from semcomm_ros.bench.report import machine

CODEC_STYLE = {"ours": ("-o", "tab:red"), "webp": ("--s", "tab:blue"),
               "x264": ("--^", "tab:green")}
METRICS = (("wpsnr", "weighted PSNR (dB)"), ("psnr_key", "key-object PSNR (dB)"),
           ("psnr", "full-frame PSNR (dB)"), ("ssim", "full-frame SSIM"))


def versions() -> dict[str, str]:
    """Versions of this package (and its git commit) and of the libraries that matter."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("semcomm_ros", "numpy", "opencv-python", "opencv-python-headless", "av",
                 "torch", "onnxruntime", "rosbags", "scikit-image", "matplotlib"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        root = Path(__file__).resolve().parents[2]
        commit = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        if commit:
            out["semcomm_ros git"] = commit
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def _fmt(value, digits: int = 2) -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _num(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def plot_rate_quality(summaries: list[dict], path: Path, bag: str) -> bool:
    """Rate-quality of every codec over the fixed-rate runs of one bag (one PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [s for s in summaries if s["bag_name"] == bag]
    if not runs:
        return False
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

    budgets = sorted({float(s["setting"].removesuffix("kbps")) for s in runs
                      if s["setting"].endswith("kbps")})
    fig, axes = plt.subplots(1, len(METRICS), figsize=(18, 4.0))
    codecs = list(dict.fromkeys(c for s in runs for c in s["per_codec"]))
    for codec in codecs:
        pts = sorted((s["per_codec"][codec]["kbps"], s["per_codec"][codec]) for s in runs
                     if codec in s["per_codec"])
        style, colour = CODEC_STYLE.get(codec, ("-x", None))
        for ax, (key, title) in zip(axes, METRICS):
            ax.plot([p[0] for p in pts], [p[1][key] for p in pts], style, color=colour,
                    label=codec, markersize=5)
            ax.set_title(title)
            ax.set_xlabel("delivered kbit/s (ticks: the budgets)")
            if len(pts) > 1 and min(p[0] for p in pts) > 0:
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(FixedLocator(budgets))
                ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"{bag}: rate-quality (means over frames)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def plot_over_time(rows: list[dict], path: Path, title: str) -> None:
    """Weighted and key-object PSNR, and bytes per frame, over the bag's time (one PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(12, 8.4), sharex=True)
    codecs = list(dict.fromkeys(r["codec"] for r in rows))
    for codec in codecs:
        mine = [r for r in rows if r["codec"] == codec]
        t = [_num(r["t_s"]) for r in mine]
        style, colour = CODEC_STYLE.get(codec, ("-", None))
        line = style.replace("o", "").replace("s", "").replace("^", "") or "-"
        axes[0].plot(t, [_num(r["wpsnr"]) for r in mine], line, color=colour, label=codec,
                     linewidth=1)
        axes[1].plot(t, [_num(r["psnr_key"]) for r in mine], line, color=colour, label=codec,
                     linewidth=1)
        axes[2].plot(t, [_num(r["bytes"]) for r in mine], line, color=colour, label=codec,
                     linewidth=1)
    ours = [r for r in rows if r["codec"] == codings(codecs)]
    axes[2].step([_num(r["t_s"]) for r in ours], [_num(r["budget"]) for r in ours], "k:",
                 where="post", label="budget", linewidth=1)
    axes[0].set_ylabel("weighted PSNR (dB)")
    axes[1].set_ylabel("key-object PSNR (dB)")
    axes[2].set_ylabel("bytes per frame")
    axes[2].set_xlabel("time in the bag (s)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def codings(codecs: list[str]) -> str:
    """The codec whose budget line is drawn (ours when present)."""
    return "ours" if "ours" in codecs else codecs[0]


def load_average() -> str:
    """The 1/5/15-minute load averages."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


PAGE_SCRIPT = """
function mark(el, ok) { el.setAttribute('data-ok', ok ? '1' : '0'); }
window.addEventListener('load', function () {
  document.querySelectorAll('img').forEach(function (img) {
    mark(img, img.complete && img.naturalWidth > 0);
  });
});
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('video').forEach(function (v) {
    v.addEventListener('loadeddata', function () { mark(v, v.videoWidth > 0); });
    v.addEventListener('error', function () { mark(v, false); });
    if (v.readyState >= 2) { mark(v, v.videoWidth > 0); }
  });
});
"""

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1500px; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
img.plot { max-width: 100%; border: 1px solid #ddd; }
img.thumb { width: 480px; }
video { max-width: 100%; background: #000; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
.muted { color: #666; }
"""


def write_report(out: Path, bags: list[dict], plan, info: dict) -> Path:
    """Collect every run's results under ``out/bags``; write plots, index.html, CSV, JSON."""
    out = Path(out)
    summaries, all_rows = [], []
    for bag in bags:
        for setting in plan:
            from semcomm_ros.evaluation.cli import slug

            folder = out / "bags" / bag["name"] / slug(setting.name)
            summary = json.loads((folder / "summary.json").read_text())
            summary["bag_name"] = bag["name"]
            summary["folder"] = folder.relative_to(out).as_posix()
            summary["is_trace"] = setting.is_trace
            summaries.append(summary)
            rows = _read_rows(folder / "frames.csv")
            for r in rows:
                r["bag"], r["setting"] = bag["name"], setting.name
            all_rows += rows
            summary["time_plot"] = f"{summary['folder']}/over_time.png"
            plot_over_time(rows, out / summary["time_plot"],
                           f"{bag['name']} at {setting.name}: quality and bytes per frame")
    fields = ["bag", "setting"] + [k for k in (all_rows[0].keys() if all_rows else [])
                                   if k not in ("bag", "setting")]
    with open(out / "frames.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(all_rows)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = {"date": date, "machine": machine(), "load_average": load_average(),
            "versions": versions(), **info}
    (out / "summary.json").write_text(json.dumps(
        {"meta": meta, "bags": bags, "runs": summaries}, indent=1, default=str))

    h = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
         f"<title>semcomm eval: {html.escape(', '.join(b['name'] for b in bags))}</title>"
         f"<style>{STYLE}</style><script>{PAGE_SCRIPT}</script></head><body>",
         "<h1>semcomm evaluation</h1>",
         f"<p class='muted'>{html.escape(date)} &middot; {html.escape(meta['machine'])} "
         f"&middot; load average at the end {html.escape(meta['load_average'])} &middot; "
         f"this command {info.get('wall_s', 0):.0f} s; the runs' own replay times: "
         + html.escape(", ".join(f"{r['setting']} {r.get('wall_s', 0):.0f} s" for r in summaries))
         + " (runs done before are kept, not timed again)</p>",
         f"<p>Command: <code>{html.escape(info.get('command', ''))}</code><br>"
         "Raw numbers: <a href='frames.csv'>frames.csv</a> (one row per frame and codec) "
         "and <a href='summary.json'>summary.json</a> (aggregates, configuration, versions); "
         "each run's own files under <a href='bags/'>bags/</a>.</p>",
         "<p>ours = the semantic encoder at the budget, the wire bytes, the composition "
         f"decoder and the <b>{html.escape(str(info.get('backend')))}</b> reconstruction "
         "backend"
         + ("; the encoder hears each frame's fate (decoded or lost) one frame later, as from "
            "the decoder's FrameReport" if info.get("options", {}).get("feedback", True)
            else "; no receiver reports (a one-way link)")
         + "; webp = per-frame WebP at the highest quality within the same budget; "
         "x264 = libx264 zero-latency at the same bit rate. Key-object region and weight "
         "map: the detector's on the original frame, the same for every codec. Recall and "
         "phantoms: the detector again on decoded pictures (every "
         f"{info.get('options', {}).get('detect_every', 0)}-th frame): recall = original "
         "detections found again (same label, IoU &ge; 0.5); phantom = a detection matching "
         "no same-label original one (IoU &lt; 0.3).</p>"]
    for bag in bags:
        runs = [s for s in summaries if s["bag_name"] == bag["name"]]
        h.append(f"<h2>{html.escape(bag['name'])}</h2><p>{html.escape(bag['path'])}: topic "
                 f"<code>{html.escape(bag['topic'])}</code> ({html.escape(bag['msgtype'])}), "
                 f"{bag['frames']} frames evaluated at {bag['fps']:.2f} frames/s"
                 + (f", {runs[0]['width']}x{runs[0]['height']}" if runs else "")
                 + f"; detector {html.escape(str(bag['detector']))}</p>")
        fixed = [s for s in runs if not s["is_trace"]]
        if fixed:
            name = f"rate_quality_{bag['name']}.png"
            if plot_rate_quality(fixed, out / name, bag["name"]):
                h.append(f"<h3>Rate&ndash;quality</h3><img class='plot' src='{name}' "
                         f"alt='rate-quality {html.escape(bag['name'])}'>")
        h.append("<h3>Summary</h3><table><tr><th class='l'>setting</th><th class='l'>codec"
                 "</th><th>frames sent</th><th>kbit/s</th><th>bytes/frame</th><th>bpp</th>"
                 "<th>budget use</th><th>level</th><th>wPSNR</th><th>PSNR</th>"
                 "<th>PSNR key</th><th>PSNR bg</th><th>SSIM</th><th>SSIM key</th>"
                 "<th>SSIM bg</th><th>recall</th><th>phantoms/frame</th><th>enc ms</th>"
                 "<th>dec ms</th></tr>")
        for s in runs:
            for codec, c in s["per_codec"].items():
                h.append(f"<tr><td class='l'>{html.escape(s['setting'])}</td>"
                         f"<td class='l'>{html.escape(codec)}</td><td>{c['sent']}/{c['frames']}"
                         f"</td><td>{_fmt(c['kbps'], 1)}</td><td>{_fmt(c['bytes_mean'], 0)}</td>"
                         f"<td>{_fmt(c['bpp'], 3)}</td><td>{_fmt(c['budget_use'] * 100, 0)} %"
                         f"</td><td>{_fmt(c['level_mean'], 1)}</td><td>{_fmt(c['wpsnr'])}</td>"
                         f"<td>{_fmt(c['psnr'])}</td><td>{_fmt(c['psnr_key'])}</td>"
                         f"<td>{_fmt(c['psnr_bg'])}</td><td>{_fmt(c['ssim'], 3)}</td>"
                         f"<td>{_fmt(c['ssim_key'], 3)}</td><td>{_fmt(c['ssim_bg'], 3)}</td>"
                         f"<td>{_fmt(c['recall'])}</td><td>{_fmt(c['phantoms_per_frame'])}</td>"
                         f"<td>{_fmt(c['enc_ms'], 1)}</td><td>{_fmt(c['dec_ms'], 1)}</td></tr>")
        h.append("</table>")
        for s in runs:
            h.append(f"<h3>{html.escape(s['setting'])}</h3>")
            h.append(f"<img class='plot' src='{s['time_plot']}' alt='quality and bytes over "
                     f"time at {html.escape(s['setting'])}'>")
            if s.get("video"):
                src = f"{s['folder']}/{s['video']}"
                h.append(f"<p>Original | weight map with detections | reconstruction "
                         f"(<a href='{src}'>MP4</a>):</p><video controls muted preload='auto' "
                         f"src='{src}' width='960'></video>")
            if s.get("worst"):
                h.append("<p>Worst frames of ours (lowest weighted PSNR, at most one per "
                         "second):</p>"
                         "<table><tr>"
                         "<th>frame</th><th>t (s)</th><th>bytes</th><th>level</th>"
                         "<th>wPSNR</th><th>PSNR key</th><th>PSNR</th>"
                         "<th class='l'>original | weight map | ours</th></tr>")
                for w in s["worst"]:
                    src = f"{s['folder']}/{w['image']}"
                    h.append(f"<tr><td>{w['frame']}</td><td>{_fmt(w['t_s'])}</td>"
                             f"<td>{w['bytes']}</td><td>{w['level']}</td>"
                             f"<td>{_fmt(w['wpsnr'])}</td><td>{_fmt(w['psnr_key'])}</td>"
                             f"<td>{_fmt(w['psnr'])}</td><td class='l'><a href='{src}'>"
                             f"<img class='thumb' src='{src}' alt='frame {w['frame']}'>"
                             "</a></td></tr>")
                h.append("</table>")
    h.append("<h2>Configuration and versions</h2><table>")
    for key in ("command", "backend", "config", "trace", "fps_limit", "start", "max_frames",
                "jobs"):
        h.append(f"<tr><th class='l'>{key}</th><td class='l'>"
                 f"{html.escape(str(info.get(key)))}</td></tr>")
    for key, value in meta["versions"].items():
        h.append(f"<tr><th class='l'>{html.escape(key)}</th><td class='l'>"
                 f"{html.escape(value)}</td></tr>")
    h.append("</table><details><summary>codec, reconstruction and budget configuration"
             "</summary><pre>" + html.escape(json.dumps(
                 {k: info.get(k) for k in ("codec", "reconstruction", "budget", "options")},
                 indent=1, default=str)) + "</pre></details></body></html>")
    index = out / "index.html"
    index.write_text("\n".join(h))
    return index
