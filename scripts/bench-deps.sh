#!/usr/bin/env bash
# bench-deps.sh -- what `make bench` needs beyond `make test`'s packages:
# wrk, php-fpm with PDO MySQL (opcache comes with it), Go with
# go-sql-driver/mysql (Debian's packages: the Go reference builds in GOPATH
# mode from /usr/share/gocode, nothing downloaded), Node.js with npm,
# and the Node reference's express and mysql2, installed from the npm
# registry with `npm ci` from the committed package-lock.json into
# tests/bench/peers/node/node_modules (never committed).
#
# As root it installs the missing Debian packages (without starting any
# service, like deps.sh); as anyone else it prints the one command to run
# and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

installed() {
    local status
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) || return 1
    [ "${status:0:2}" = ii ]
}

missing=()
for p in wrk php-fpm php-mysql golang-go golang-github-go-sql-driver-mysql-dev; do
    installed "$p" || missing+=("$p")
done
# Node may come from Debian (nodejs + npm) or from elsewhere: any node and
# npm on the PATH will do.
if ! command -v node >/dev/null 2>&1; then
    missing+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
    missing+=(npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bench-deps.sh: missing packages: ${missing[*]}" >&2
        echo "Install them with:" >&2
        echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    echo "bench-deps.sh: installing ${missing[*]}"
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    cleanup() { [ $made_policy = 1 ] && rm -f "$policy"; true; }
    trap cleanup EXIT
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# bench-deps.sh: no service starts during this install\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
    if command -v systemctl >/dev/null 2>&1; then
        for unit in $(systemctl list-unit-files 'php*-fpm.service' --no-legend 2>/dev/null | awk '{print $1}'); do
            systemctl disable "$unit" >/dev/null 2>&1 || true
        done
    fi
fi

# The Node reference's packages, exactly as locked.
peer=tests/bench/peers/node
lock=$peer/package-lock.json
stamp=$peer/node_modules/.bench-lock
if [ ! -f "$stamp" ] || ! cmp -s "$lock" "$stamp"; then
    echo "bench-deps.sh: npm ci in $peer"
    (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$lock" "$stamp"
fi
