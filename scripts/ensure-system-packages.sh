#!/usr/bin/env bash
# WeasyPrint (the job report as PDF) loads these shared libraries when it is imported:
# GObject, Pango, PangoFT2, HarfBuzz (and HarfBuzz-subset, to embed font subsets) and
# fontconfig. Make sure they are here; install Debian's packages for the missing ones.
set -euo pipefail
source "$(dirname "$0")/debian-packages.sh"
# library soname -> Debian packages that provide it (the first one the archive has wins)
LIBS=(
  "libgobject-2.0.so.0:libglib2.0-0t64 libglib2.0-0"
  "libpango-1.0.so.0:libpango-1.0-0"
  "libpangoft2-1.0.so.0:libpangoft2-1.0-0"
  "libharfbuzz.so.0:libharfbuzz0b"
  "libharfbuzz-subset.so.0:libharfbuzz-subset0"
  "libfontconfig.so.1:libfontconfig1"
)
CACHE=$( (ldconfig -p || /sbin/ldconfig -p) 2>/dev/null || true)  # read whole: grep -q on a pipe would SIGPIPE it
have() { grep -q "^[[:space:]]*$1 " <<<"$CACHE" || ls /usr/lib/*/"$1" /lib/*/"$1" >/dev/null 2>&1; }

missing_libs=()
for entry in "${LIBS[@]}"; do
  have "${entry%%:*}" || missing_libs+=("$entry")
done
[ ${#missing_libs[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then apt-get update -qq; fi  # for apt-cache
packages=()  # for each missing library, the first of its package names the archive has
for entry in "${missing_libs[@]}"; do
  chosen=""
  for pkg in ${entry#*:}; do
    if apt-cache show "$pkg" >/dev/null 2>&1; then chosen=$pkg; break; fi
  done
  packages+=("${chosen:-${entry#*:}}")
done
install_debian_packages "WeasyPrint (the report's PDF)" ${packages[@]}
