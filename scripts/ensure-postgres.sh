#!/usr/bin/env bash
# The test suite runs the service on a real PostgreSQL server (started per test session
# in a temporary folder). Make sure its binaries are here; install Debian's package if not.
set -euo pipefail
source "$(dirname "$0")/debian-packages.sh"
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
install_debian_packages "the tests' PostgreSQL server" postgresql
