#!/usr/bin/env bash
# The report's browser test opens the HTML report in headless Chromium and looks at the
# screenshot. Make sure a Chromium is here; install Debian's package if not.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Chromium (Debian package) for the report's browser test" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "headless Chromium is needed for the report's browser test: install the 'chromium' package" >&2
exit 1
