#!/usr/bin/env bash
# Stand-in base images for machines that cannot reach the public image registry, built from
# Debian's own packages (docs/docker.md, "Without registry access"):
#
#   mnistq-standin/python:3.11-bookworm   Debian's Python 3.11 in a virtual environment on
#                                         PATH (python, pip), plus this machine's CA bundle
#                                         so that pip inside a build trusts the same CAs
#   mnistq-standin/redis:bookworm         Debian's redis-server and redis-cli
#
#   bash scripts/standin-images.sh        # then build with the variables it prints
#
# Idempotent and cached: an image whose recipe label matches this script's recipe is kept,
# so a second run takes seconds. FORCE=1 rebuilds. Needs root (debootstrap) and a Docker
# Engine; DOCKER (default: Debian's /usr/bin/docker when present) names the client.
set -euo pipefail

DOCKER=${DOCKER:-$( [[ -x /usr/bin/docker ]] && echo /usr/bin/docker || command -v docker )}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
PYTHON_IMAGE=mnistq-standin/python:3.11-bookworm
REDIS_IMAGE=mnistq-standin/redis:bookworm
# Bump when a recipe below changes: images with another recipe are rebuilt.
RECIPE=1

ca_digest() { sha256sum "$CA_BUNDLE" | cut -c1-16; }

is_current() {  # image name, expected recipe label
  [[ "${FORCE:-0}" != 1 ]] && [[ "$("$DOCKER" image inspect --format \
    '{{ index .Config.Labels "org.mnistq.standin.recipe" }}' "$1" 2>/dev/null)" == "$2" ]]
}

# debootstrap ROOT PACKAGES: a minimal bookworm with the packages, apt lists and caches removed.
bootstrap() {
  local root=$1 packages=$2
  debootstrap --variant=minbase --include="$packages" "$SUITE" "$root" "$MIRROR" >/dev/null
  # The image's apt reaches Debian's mirror and the security archive, like the official ones.
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
    "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" "$SUITE" > "$root/etc/apt/sources.list"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
         "$root"/var/log/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/tmp/*
}

# import ROOT NAME RECIPE CHANGES...: the root filesystem as an image with Dockerfile changes.
import_root() {
  local root=$1 name=$2 recipe=$3; shift 3
  local changes=(--change "LABEL org.mnistq.standin.recipe=$recipe")
  for change in "$@"; do changes+=(--change "$change"); done
  tar --numeric-owner -C "$root" -c . | "$DOCKER" import "${changes[@]}" - "$name" >/dev/null
  echo "built $name"
}

work=$(mktemp -d /tmp/mnistq-standin.XXXXXX)
trap 'rm -rf "$work"' EXIT

python_recipe="$RECIPE-$(ca_digest)"
if is_current "$PYTHON_IMAGE" "$python_recipe"; then
  echo "$PYTHON_IMAGE is up to date"
else
  root=$work/python
  bootstrap "$root" python3,python3-venv,ca-certificates,passwd
  # This machine's CA bundle: pip inside a build reaches the package index only through it.
  install -m 0644 "$CA_BUNDLE" "$root/usr/local/share/mnistq-ca-bundle.crt"
  chroot "$root" python3 -m venv /opt/python
  rm -rf "$root"/root/.cache
  import_root "$root" "$PYTHON_IMAGE" "$python_recipe" \
    "ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "ENV LANG=C.UTF-8" \
    "ENV PIP_CERT=/usr/local/share/mnistq-ca-bundle.crt" \
    "ENV SSL_CERT_FILE=/usr/local/share/mnistq-ca-bundle.crt" \
    'CMD ["python3"]'
fi

if is_current "$REDIS_IMAGE" "$RECIPE"; then
  echo "$REDIS_IMAGE is up to date"
else
  root=$work/redis
  bootstrap "$root" redis-server,redis-tools
  mkdir -p "$root/data"
  chroot "$root" chown redis:redis /data
  import_root "$root" "$REDIS_IMAGE" "$RECIPE" \
    "WORKDIR /data" "EXPOSE 6379" 'CMD ["redis-server"]'
fi

cat <<VARS
# Build and run with the stand-ins:
export PYTHON_IMAGE=$PYTHON_IMAGE REDIS_IMAGE=$REDIS_IMAGE
VARS
