#!/usr/bin/env bash
# The report's browser test opens the HTML report in headless Chromium and looks at the
# screenshot. Make sure a Chromium is here; install Debian's package if not.
set -euo pipefail
source "$(dirname "$0")/debian-packages.sh"
for name in chromium chromium-browser google-chrome; do
  command -v "$name" >/dev/null 2>&1 && exit 0
done
install_debian_packages "the report's browser test (headless Chromium)" chromium
