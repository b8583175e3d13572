"""GPU timing of the embedded decoder at 640x480 (median of N after warm-up).

Usage: python3 tools/device/gpu_timing.py MODEL_DIR OUT.json [N=50]
"""
import datetime
import json
import sys
import time

import numpy as np
import torch

from semcomm_ros.reconstruction.models import EmbeddedDecoder
from semcomm_ros.reconstruction.pipeline import EmbeddedPipeline


def main() -> None:
    """Time the fidelity end (1 step) and the realism end (4 steps, eta 1)."""
    model = EmbeddedDecoder.load(sys.argv[1])
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    pipe = EmbeddedPipeline(model, device=dev)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    rng = np.random.default_rng(0)
    comp = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    weights = rng.random((480, 640), dtype=np.float32)
    sem = np.zeros((480, 640), np.uint16)
    keep = np.zeros((480, 640), np.float32)
    res = {"device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu",
           "torch": torch.__version__,
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "params": model.num_parameters()}
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    for steps, eta in ((1, 0.0), (4, 1.0)):
        for _ in range(5):
            pipe(comp, weights, sem, keep, steps=steps, eta=eta)
        times = []
        for _ in range(runs):
            sync()
            t = time.perf_counter()
            pipe(comp, weights, sem, keep, steps=steps, eta=eta)
            sync()
            times.append(time.perf_counter() - t)
        res[f"steps{steps}_median_ms"] = 1000 * float(np.median(times))
        res[f"steps{steps}_p90_ms"] = 1000 * float(np.percentile(times, 90))
    try:  # the prior (torch, on the same device) on a 320x240 coarse picture -> 640x480
        from semcomm_ros.reconstruction.prior import PriorError, make_upsampler
        up = make_upsampler("waifu2x", device=dev)
        small = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        for _ in range(3):
            up(small, 640, 480)
        times = []
        for _ in range(min(runs, 20)):
            t = time.perf_counter()
            up(small, 640, 480)  # returns a host array: synchronised
            times.append(time.perf_counter() - t)
        res["prior"] = f"{up.name} ({getattr(up, 'dtype', '')})"
        res["prior_median_ms"] = 1000 * float(np.median(times))
    except (ImportError, PriorError) as exc:
        res["prior"] = f"not timed: {exc}"
    print(json.dumps(res, indent=1))
    with open(sys.argv[2], "w") as fh:
        json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
