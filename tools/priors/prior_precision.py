"""How to run the waifu2x prior fast enough: precision and runtime, side by side.

Compares, on the same inputs, the shipped ONNX graph run by onnxruntime (float32, what the
prior used before), the torch port (`reconstruction/prior.py`) in float32 and bfloat16,
and onnxruntime static int8 quantisations (QDQ, per-channel weights, calibrated on other
training photos; all layers, or the first and last kept in float). Inputs: TRAINING photos
only (opencv-doc minus the held-out split), halved with INTER_AREA and JPEG-compressed
at quality 30 (the kind of coarse picture the codec sends). Score: PSNR of the x2 output
against the original, minus float32's; time: median of 7 runs of a 320x240 -> 640x480
frame, interleaved so that machine load hits every variant alike.

    .venv/bin/python tools/priors/prior_precision.py [--photos 12] [--threads 2] > out.md
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from semcomm_ros.reconstruction.data import DEFAULT_DATA_DIR, EXCLUDED_PHOTOS, read_images
from semcomm_ros.reconstruction.prior import (
    WAIFU2X_PAD,
    Waifu2xUpsampler,
    find_waifu2x,
    native_bf16,
)


def low_res(img: np.ndarray, quality: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """(original cropped to even size and at most 640x480, half-size JPEG copy)."""
    h, w = min(img.shape[0], 480), min(img.shape[1], 640)  # at most a 640x480 frame
    img = img[:h // 2 * 2, :w // 2 * 2]
    small = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return img, cv2.imdecode(buf, cv2.IMREAD_COLOR)


def padded(small: np.ndarray) -> np.ndarray:
    """BGR uint8 -> (1,3,h+14,w+14) RGB float32, edge-padded (waifu2x's input)."""
    x = np.ascontiguousarray(small[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32)
    p = WAIFU2X_PAD
    return np.pad(x / 255.0, ((0, 0), (0, 0), (p, p), (p, p)), mode="edge")


class OrtUpsampler:
    """An ONNX file through onnxruntime (CPU), same pre/post-processing as the prior."""

    def __init__(self, path: Path, threads: int):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        self.sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.name = self.sess.get_inputs()[0].name

    def __call__(self, small: np.ndarray, width: int, height: int) -> np.ndarray:
        """x2 (the inputs here are exactly half the output)."""
        h, w = small.shape[:2]
        y = self.sess.run(None, {self.name: padded(small)})[0][0, :, :2 * h, :2 * w]
        return (np.clip(y.transpose(1, 2, 0)[..., ::-1], 0, 1) * 255 + 0.5).astype(np.uint8)


def quantised(src: Path, calib: list[np.ndarray], exclude: list[str], out: Path) -> Path:
    """Static int8 QDQ model of ``src`` calibrated on ``calib`` (percentile 99.999)."""
    model = onnx.load(str(src))
    missing = set(exclude) - {n.name for n in model.graph.node}
    if missing:
        raise SystemExit(f"{src}: no nodes named {sorted(missing)}")
    # the shipped graph is opset 8 / IR 3: Conv, LeakyRelu, ConvTranspose mean the same at
    # opset 13, which the quantiser needs (its own converter fails on IR-3 initialisers)
    model.opset_import[0].version = 13
    model.ir_version = 7
    pre = out.with_suffix(".pre.onnx")
    onnx.save(model, str(pre))
    name = model.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {name: x}

    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.Percentile,
                    nodes_to_exclude=exclude, extra_options={"CalibPercentile": 99.999})
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of uint8 pictures."""
    return 10 * np.log10(255.0 ** 2 / max(1e-9, np.mean((a.astype(np.float64) - b) ** 2)))


def main() -> None:
    """Print a markdown report."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--noise", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    photos = [s.image for s in read_images(DEFAULT_DATA_DIR, EXCLUDED_PHOTOS)
              if s.image.shape[0] >= 240 and s.image.shape[1] >= 320]
    test, rest = photos[::4][:a.photos], [p for i, p in enumerate(photos) if i % 4]
    calib = [padded(low_res(p)[1][:120, :160]) for p in rest[::2][:20]]
    src = find_waifu2x(a.noise)
    variants = {"onnxruntime float32 (before)": OrtUpsampler(src, a.threads),
                "torch float32": Waifu2xUpsampler(a.noise, precision="float32"),
                "torch bfloat16": Waifu2xUpsampler(a.noise, precision="bfloat16")}
    with tempfile.TemporaryDirectory() as tmp:
        for label, excl in (("onnxruntime int8, every layer", []),
                            ("onnxruntime int8, first + last in float",
                             ["convolution", "convolution6"])):
            path = quantised(src, calib, excl, Path(tmp) / f"q{len(excl)}.onnx")
            variants[label] = OrtUpsampler(path, a.threads)
        scores = {k: [] for k in variants}
        for img in test:
            orig, small = low_res(img)
            for k, up in variants.items():
                scores[k].append(psnr(up(small, orig.shape[1], orig.shape[0]), orig))
        frame = (np.random.default_rng(0).random((240, 320, 3)) * 255).astype(np.uint8)
        times = {k: [] for k in variants}
        for _ in range(7):
            for k, up in variants.items():
                t = time.perf_counter()
                up(frame, 640, 480)
                times[k].append(time.perf_counter() - t)
    ref = np.mean(scores["torch float32"])
    print(f"- command: `{' '.join(['.venv/bin/python', 'tools/priors/prior_precision.py'])}"
          f" --photos {a.photos} --threads {a.threads} --noise {a.noise}`")
    print(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; torch "
          f"{torch.__version__}, onnxruntime {ort.__version__}, {a.threads} threads; "
          f"bf16 native: {native_bf16()}")
    print(f"- data: {len(test)} training photos (never the held-out ones), x2 from JPEG q30 "
          f"half size; waifu2x noise{a.noise}\n")
    print("| variant | mean PSNR | Δ vs float32 | s per 640x480 frame (median of 7) | speed-up |")
    print("|---|---|---|---|---|")
    t_ref = np.median(times["onnxruntime float32 (before)"])
    for k in variants:
        t = np.median(times[k])
        print(f"| {k} | {np.mean(scores[k]):.3f} | {np.mean(scores[k]) - ref:+.3f} | "
              f"{t:.3f} | {t_ref / t:.2f}x |")


if __name__ == "__main__":
    main()
