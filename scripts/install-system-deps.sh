#!/usr/bin/env bash
# Install the Debian packages mnist-queue needs where they are missing:
# redis-server and prometheus (with promtool: tests/test_metrics.py) always; chromium too
# with --with-browser (the web page's tests); with --with-docker, Debian's Docker Engine
# (docker.io), debootstrap (scripts/standin-images.sh) and iproute2 (the live container
# tests: tests/test_containers_live.py).
set -euo pipefail
with_browser=0 with_docker=0
for arg in "$@"; do
  case "$arg" in
    --with-browser) with_browser=1 ;;
    --with-docker) with_docker=1 ;;
    *) echo "usage: $0 [--with-browser] [--with-docker]" >&2; exit 2 ;;
  esac
done
packages=()
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
command -v prometheus >/dev/null 2>&1 || packages+=(prometheus)
if [[ $with_browser == 1 ]] && ! [[ -x /usr/bin/chromium ]]; then
  packages+=(chromium)
fi
if [[ $with_docker == 1 ]]; then
  # Debian's client (/usr/bin/docker, 20.10) builds with BuildKit without the buildx plugin.
  [[ -x /usr/bin/docker && -x /usr/sbin/dockerd ]] || packages+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] || packages+=(debootstrap)
  command -v ip >/dev/null 2>&1 || packages+=(iproute2)
fi
[[ ${#packages[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "missing Debian packages: ${packages[*]} (run: sudo apt-get install ${packages[*]})" >&2
  exit 1
fi
echo "installing ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
