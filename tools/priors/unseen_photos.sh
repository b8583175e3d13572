#!/usr/bin/env bash
# Gather the 8 photos the project never trained on into a folder for
# `semcomm bench decoder --images DIR`: scikit-image's astronaut, chelsea, coffee, rocket,
# motorcycle_left; matplotlib's grace_hopper; ultralytics' bus and zidane (all ship inside
# wheels of the project's venv; nothing is downloaded). Usage: unseen_photos.sh [DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:-$here/out/unseen_photos}
py=${PYTHON:-$here/.venv/bin/python}
mkdir -p "$dest"
"$py" - "$dest" <<'PY'
import os, shutil, sys
import matplotlib, skimage, ultralytics
d = sys.argv[1]
sk = os.path.join(os.path.dirname(skimage.__file__), "data")
files = [os.path.join(sk, n) for n in ("astronaut.png", "chelsea.png", "coffee.png",
                                        "rocket.jpg", "motorcycle_left.png")]
files.append(os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data",
                          "grace_hopper.jpg"))
files += [os.path.join(os.path.dirname(ultralytics.__file__), "assets", n)
          for n in ("bus.jpg", "zidane.jpg")]
for f in files:
    shutil.copy(f, d)
print(f"{len(files)} photos in {d}")
PY
