#!/usr/bin/env bash
# Install the headless browser the demo smoke test drives (tests/browser/): Debian's
# `chromium` and `chromium-driver` (chromedriver), plus a font so screenshots show text.
# Idempotent: installs only what is missing. Needs root, or sudo. Nothing is downloaded
# at test time: the test uses /usr/bin/chromium and /usr/bin/chromedriver as installed here.
set -euo pipefail

packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
dpkg -s fonts-liberation >/dev/null 2>&1 || packages+=(fonts-liberation)

if [ "${#packages[@]}" -eq 0 ]; then
  echo "ci_browser: $(chromium --version 2>/dev/null | head -n 1), chromedriver present"
  exit 0
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ci_browser: missing ${packages[*]}; run as root: apt-get install -y ${packages[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi

echo "ci_browser: installing ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >/dev/null
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null
echo "ci_browser: $(chromium --version 2>/dev/null | head -n 1), chromedriver installed"
