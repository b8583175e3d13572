"""Shared pieces of the benchmark reports."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """One line about the machine the numbers come from (CPU model, cores, OS, Python)."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")
