#!/usr/bin/env bash
# The production-profile test runs Celery on a real Redis broker (started per test in a
# temporary folder). Make sure redis-server is here; install Debian's package if not.
set -euo pipefail
source "$(dirname "$0")/debian-packages.sh"
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
install_debian_packages "the tests' Redis broker" redis-server
