#!/usr/bin/env bash
# WeasyPrint (the job report as PDF) loads these shared libraries when it is imported:
# GObject, Pango, PangoFT2, HarfBuzz (and HarfBuzz-subset, to embed font subsets) and
# fontconfig. Make sure they are here; install Debian's packages for the missing ones.
set -euo pipefail
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

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  packages=()
  for entry in "${missing_libs[@]}"; do
    for pkg in ${entry#*:}; do
      if apt-cache show "$pkg" >/dev/null 2>&1; then packages+=("$pkg"); break; fi
    done
  done
  echo "installing ${packages[*]} (Debian packages) for WeasyPrint, the report's PDF" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  exit 0
fi
echo "WeasyPrint (the report's PDF) needs these libraries: ${missing_libs[*]%%:*}" >&2
groups=$(for e in "${missing_libs[@]}"; do p=${e#*:}; echo -n "${p// / or }; "; done)
echo "install (as root) the Debian packages: ${groups%; }" >&2
exit 1
