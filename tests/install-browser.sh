#!/usr/bin/env bash
# The leaderboard page's browser test needs Chromium and its WebDriver. They come from Debian's packages
# (apt-get, as root); elsewhere, install them yourself and the test finds them on PATH.
set -euo pipefail
if command -v chromedriver >/dev/null && { command -v chromium || command -v chromium-browser || command -v google-chrome; } >/dev/null; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
    exit 0
fi
echo "Chromium and chromedriver are not installed: the browser test will be skipped (Debian: apt-get install chromium chromium-driver)" >&2
