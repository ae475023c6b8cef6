#!/usr/bin/env bash
# Run by `npm test` before the tests (the `pretest` script): installs, from Debian's packages, the
# system tools the tests use besides NATS and MariaDB, when they are missing. Nothing else.
#   7zip                               7-Zip 26 (`7zz`), the 7-Zip the service prefers (the bundled
#                                      p7zip 16.02 of 7zip-bin is tested too)
#   python3-py7zr                      py7zr, which made the original tool's archives
#   golang-go, golang-github-nats-io-go-nats-dev
#                                      Go and nats.go 1.22: a second NATS client for the tests
#                                      (test/tools/, built offline)
set -euo pipefail

missing=()
command -v 7zz >/dev/null || missing+=(7zip)
/usr/bin/python3 -c 'import py7zr' 2>/dev/null || missing+=(python3-py7zr)
command -v go >/dev/null || missing+=(golang-go)
[ -f /usr/share/gocode/src/github.com/nats-io/nats.go/micro/service.go ] || missing+=(golang-github-nats-io-go-nats-dev)
exec bash "$(dirname "$0")/apt-install.sh" "test prerequisites" "${missing[@]}"
