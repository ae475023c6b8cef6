#!/usr/bin/env bash
# Run by `npm run bench` before the benchmark (the `prebench` script): installs, from Debian's
# packages, the tools the benchmark compares the service with, when they are missing. Nothing else.
#   mariadb-client   mariadb-dump and mariadb: the original tool's dump and restore
#   p7zip-full       7za: the original pipeline's 7-Zip, and the peer's `7za a -mx1`
#   7zip             7zz: 7-Zip alone on the service's files (level 5)
#   mydumper         mydumper and myloader 0.10: the multi-threaded peer
set -euo pipefail

missing=()
command -v mariadb-dump >/dev/null && command -v mariadb >/dev/null || missing+=(mariadb-client)
command -v 7za >/dev/null || missing+=(p7zip-full)
command -v 7zz >/dev/null || missing+=(7zip)
command -v mydumper >/dev/null && command -v myloader >/dev/null || missing+=(mydumper)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "bench prerequisites: installing ${missing[*]} (Debian packages)"
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "cannot install ${missing[*]}: run as root, or with passwordless sudo, or install them with apt-get" >&2
  exit 1
fi
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
