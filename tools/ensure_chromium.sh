#!/usr/bin/env bash
# Debian's headless Chromium for the report test (test/evaluation/test_report_browser.py),
# idempotently: nothing to do when a chromium binary is on PATH. Needs root (CI runs as root)
# and the Debian package registry. Prints the binary's path last.
set -euo pipefail
log() { printf '[chromium] %s\n' "$*" >&2; }
for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; exit 0; fi
done
if [ "$(id -u)" != 0 ]; then
  log "no chromium on PATH and not root: cannot install it (apt-get install chromium)"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
exec 9>/var/lock/semcomm-chromium.lock
flock 9  # another clone may be installing it
if ! command -v chromium >/dev/null 2>&1; then
  log "installing Debian's chromium (apt-get, once)"
  apt-get update -qq >&2 || log "apt-get update failed; trying the cached lists"
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
command -v chromium
