#!/usr/bin/env bash
# Install the Debian packages mnist-queue needs where they are missing:
# redis-server and prometheus (with promtool: tests/test_metrics.py) always; chromium too
# with --with-browser (the web page's tests).
set -euo pipefail
packages=()
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
command -v prometheus >/dev/null 2>&1 || packages+=(prometheus)
if [[ "${1:-}" == "--with-browser" ]] && ! [[ -x /usr/bin/chromium ]]; then
  packages+=(chromium)
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
