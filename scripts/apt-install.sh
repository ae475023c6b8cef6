#!/usr/bin/env bash
# Installs the given Debian packages with apt-get, as root or with passwordless sudo; used by the
# project's prerequisite scripts (scripts/test-prereqs.sh, bench/prereqs.sh) for what is missing.
# Usage: scripts/apt-install.sh WHAT PACKAGE...   (WHAT names the caller in the messages)
set -euo pipefail
what=$1
shift
[ $# -eq 0 ] && exit 0
echo "$what: installing $* (Debian packages)"
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "$what: cannot install $*: run as root, or with passwordless sudo, or install them with apt-get" >&2
  exit 1
fi
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
