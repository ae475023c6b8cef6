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
exec bash "$(dirname "$0")/../scripts/apt-install.sh" "bench prerequisites" "${missing[@]}"
