"""The report opens offline in a real browser: plots, video and worst-frame pictures render.

Debian's headless Chromium loads ``index.html`` from file:// with networking off
(``tools/ensure_chromium.sh`` installs it where missing: root and the Debian
registry, as in CI). The page's own script marks each picture and video that
loaded (``data-ok="1"``: an image with a natural width, a video whose first frame
decoded); the test reads them from the DOM after the load, and checks the
screenshot is not a blank page.
"""
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    proc = subprocess.run(["bash", str(REPO / "tools" / "ensure_chromium.sh")],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.skip("no headless Chromium and it cannot be installed here (not root or no "
                    f"Debian registry): {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip().splitlines()[-1]


def browser(chromium: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-extensions", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           "--autoplay-policy=no-user-gesture-required", "--virtual-time-budget=15000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_report_renders_offline_in_chromium(evaluated, chromium, tmp_path):
    index = evaluated / "index.html"
    page = index.read_text()
    assert not re.search(r"(src|href)=['\"]https?://", page), "the page must not reach out"
    dom = browser(chromium, "--dump-dom", index.as_uri()).stdout
    images = re.findall(r"<img [^>]*>", dom)
    videos = re.findall(r"<video [^>]*>", dom)
    # per bag: rate-quality; per run: over-time plot and worst frames; per run: one video
    assert len(videos) == 4
    assert sum("rate_quality_" in i for i in images) == 2
    assert sum("over_time.png" in i for i in images) == 4
    assert sum("worst_" in i for i in images) >= 4
    not_ok = [t for t in images + videos if 'data-ok="1"' not in t]
    assert not not_ok, f"not rendered: {not_ok[:3]}"
    assert dom.count("<tr>") > 12  # summary rows, worst frames, configuration

    shot = tmp_path / "report.png"
    browser(chromium, "--hide-scrollbars", "--window-size=1400,2000",
            f"--screenshot={shot}", index.as_uri())
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (2000, 1400)
    # not a blank page: plots and pictures give many distinct colours and dark pixels
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 500
    assert (image.mean(axis=2) < 100).mean() > 0.01
    shutil.copy(shot, evaluated / "screenshot.png")  # kept with the report for a look
