# Sourced by the ensure-*.sh scripts: install Debian packages when running as root with
# apt-get, else say what is needed and fail.
#   install_debian_packages "WHY" PACKAGE...
install_debian_packages() {
  local why=$1; shift
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $* (Debian packages) for $why" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    return
  fi
  echo "$why needs the Debian packages: $* (install them as root)" >&2
  exit 1
}
