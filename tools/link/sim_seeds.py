"""Closed-loop link simulator over four seeds: goodput and convergence per phase.

The figures quoted in docs/architecture.md ("Link estimation", four seeds with 5 % of the
frames stamped 20-80 ms late). Optional argument: LinkConfig overrides as JSON, to compare
settings the same way, e.g. ``'{"probe_gain": 1.5}'``.

    .venv/bin/python tools/link/sim_seeds.py ['{"name": value}']
"""
import json
import sys

import numpy as np

from semcomm_ros.link import LinkConfig
from semcomm_ros.link.simulate import (
    SimConfig,
    outage_trace,
    phase_metrics,
    sawtooth_trace,
    simulate,
    step_trace,
)

STEP_5FPS = [(0.0, 4e6), (26.0, 0.5e6), (46.0, 2e6)]  # the base station starts 6 s late


def scenarios(seed: int, link: LinkConfig) -> dict:
    """Name -> (scenario, phases scored) for one seed."""
    steps = [(0, 20), (20, 40), (40, 60)]
    return {
        "10 fps": (SimConfig(step_trace(), 60.0, seed=seed, jitter_prob=0.05, link=link), steps),
        "5 fps, base late": (SimConfig(STEP_5FPS, 66.0, fps=5.0, receiver_start_s=6.0,
                                       seed=seed, jitter_prob=0.05, link=link),
                             [(6, 26), (26, 46), (46, 66)]),
        "15 fps": (SimConfig(step_trace(), 60.0, fps=15.0, seed=seed, jitter_prob=0.05,
                             link=link), steps),
        "5 fps, 1 Mbit/s outage": (SimConfig(outage_trace(), 35.0, fps=5.0, seed=seed,
                                             link=link), [(0, 10), (20, 35)]),
    }


def main() -> None:
    """Print one line per scenario and phase (means over the seeds)."""
    overrides = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    rows: dict[tuple[str, float], list] = {}
    for seed in (1, 2, 3, 4):
        for name, (cfg, phases) in scenarios(seed, LinkConfig(**overrides)).items():
            res = simulate(cfg)
            for i, (a, b) in enumerate(phases):
                m = phase_metrics(res, a, b, settle_s=2.0)
                rows.setdefault((name, i, m.capacity_bps), []).append(
                    (m.goodput_ratio, m.first_within_s))
        saw = simulate(SimConfig(sawtooth_trace(), 40.0, seed=seed,
                                 link=LinkConfig(**overrides)))
        delivered = sum(f.bytes for f in saw.frames if f.delivered and f.receive_time >= 5.0)
        mean_cap = np.mean([saw.capacity_at(t) for t in np.arange(5.0, 40.0, 0.1)])
        err = [abs(e.estimated_throughput_bps / saw.capacity_at(t) - 1)
               for t, e in saw.estimates if t >= 5.0]
        rows.setdefault(("sawtooth 0.5-3 Mbit/s", 0, mean_cap), []).append(
            (8 * delivered / 35.0 / mean_cap, float(np.median(err))))
    for (name, _, cap), v in rows.items():
        last = "median error of the target" if name.startswith("sawtooth") \
            else "first within 20 % after (median, s)"
        print(f"{name:24s} {cap / 1e6:4.1f} Mbit/s: goodput "
              f"{100 * np.mean([x[0] for x in v]):3.0f} %, {last} "
              f"{np.nanmedian([x[1] for x in v]):4.2f}")


if __name__ == "__main__":
    main()
