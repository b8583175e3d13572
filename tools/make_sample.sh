#!/usr/bin/env bash
# Fetch the embedded sample data, idempotently:
#   data/opencv-doc/   OpenCV's sample video and photos from Debian's opencv-doc
#   data/sample/vtest_10hz/   rosbag2 (MCAP) of sensor_msgs/Image, 10 Hz,
#                             made from vtest.avi by `semcomm make-sample`
# The .deb is cached in $SEMCOMM_CACHE so fresh clones do not download again.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
CACHE=${SEMCOMM_CACHE:-/var/cache/semcomm}
DOC="$here/data/opencv-doc"
examples=usr/share/doc/opencv-doc/examples/data
if [ ! -f "$DOC/.complete" ]; then
  deb=$(ls "$CACHE"/opencv-doc_*_all.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    echo "[sample] downloading Debian package opencv-doc (~96 MB)"
    tmp=$(mktemp -d)
    (cd "$tmp" && { apt-get download opencv-doc >/dev/null 2>&1 || \
       { apt-get update >/dev/null && apt-get download opencv-doc >/dev/null; }; })
    mv "$tmp"/opencv-doc_*_all.deb "$CACHE"/
    rm -rf "$tmp"
    deb=$(ls "$CACHE"/opencv-doc_*_all.deb | head -n1)
  fi
  echo "[sample] extracting $(basename "$deb")"
  tmp=$(mktemp -d)
  dpkg-deb -x "$deb" "$tmp"
  rm -rf "$DOC"
  mkdir -p "$DOC"
  cp -r "$tmp/$examples" "$DOC/data"
  box=$(find "$tmp" -name 'box.mp4.gz' | head -n1)
  [ -n "$box" ] && gunzip -c "$box" > "$DOC/data/box.mp4"
  rm -rf "$tmp"
  touch "$DOC/.complete"
fi
if [ ! -f "$here/data/sample/vtest_10hz/.complete" ]; then
  "$here/.venv/bin/semcomm" make-sample --video "$DOC/data/vtest.avi" \
      --out "$here/data/sample/vtest_10hz"
  touch "$here/data/sample/vtest_10hz/.complete"
fi
echo "[sample] ready: data/sample/vtest_10hz"
