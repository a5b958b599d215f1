#!/usr/bin/env bash
# deps.sh -- makes sure the Debian packages that build, test and run
# optimist are installed (`make check-deps`, run by `make test` and
# `make run`). Quiet when everything is there.
#
# As root it installs what is missing with apt-get, without starting the
# system's MariaDB or nginx: the project runs its own, under var/ or a
# temporary folder. As anyone else it prints the one command to run and
# fails.
set -euo pipefail

# One entry a line; "a|b" accepts either package and installs the first.
# nginx-light is Debian 12's smallest nginx; later releases have only nginx.
packages=(
    gcc
    make
    pkg-config
    libfcgi-dev
    default-libmysqlclient-dev
    libjson-c-dev
    libcmocka-dev
    libssl-dev
    "nginx-light|nginx|nginx-core|nginx-full"
    mariadb-server
    mariadb-client
    curl
    python3
    procps
    util-linux
    # every evaluator program runs in bubblewrap (fcgi/hub/sandbox.h)
    bubblewrap
    libsystemd-dev
    systemd
    # The web client's tests: node's test runner, and a headless Chromium
    # driven by Selenium (tests/web/, tests/e2e/test_browser.py).
    nodejs
    chromium
    chromium-driver
    python3-selenium
    # make cluster, make test-cluster: Galera, its rsync SST and the `ss`
    # the SST script uses to find its port
    galera-4
    rsync
    iproute2
    # make fuzz: libFuzzer (clang 14) and jansson, the fuzzers' second
    # JSON parser; make faults: nothing more.
    clang
    libfuzzer-14-dev
    libclang-rt-14-dev
    libjansson-dev
    # The example shop (examples/shop) that writes a declared table with
    # its own SQL: make run serves it, the tables' race test runs it.
    php-fpm
    php-mysql
)
# `deps.sh package`: also what `make deb` and `make test-package` need.
if [ "${1:-}" = package ]; then
    packages+=(dpkg-dev fakeroot lintian adduser)
fi

# `deps.sh lint`: the tools of make lint and make format-check instead.
if [ "${1:-}" = lint ]; then
    packages=(cppcheck clang-format)
fi

installed() {
    local status
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) || return 1
    [ "${status:0:2}" = ii ]
}

missing=()
for entry in "${packages[@]}"; do
    found=0
    IFS='|' read -r -a choices <<<"$entry"
    for p in "${choices[@]}"; do
        if installed "$p"; then
            found=1
            break
        fi
    done
    [ $found = 1 ] || missing+=("${choices[0]}")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}" >&2
    echo "Install them with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}"

# A policy-rc.d that says "no" keeps the packages' maintainer scripts from
# starting (or enabling) mariadb and nginx as system services. If the
# machine has one already, it is left as it is.
policy=/usr/sbin/policy-rc.d
made_policy=0
cleanup() {
    if [ $made_policy = 1 ]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# deps.sh: no service starts during this install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

# Under systemd the packages also enable their units for the next boot;
# the ones installed here are not meant to run as system services.
if command -v systemctl >/dev/null 2>&1; then
    for p in "${missing[@]}"; do
        case $p in
        mariadb-server) systemctl disable mariadb >/dev/null 2>&1 || true ;;
        nginx*) systemctl disable nginx >/dev/null 2>&1 || true ;;
        php-fpm)
            for unit in $(systemctl list-unit-files 'php*-fpm.service' --no-legend 2>/dev/null | awk '{print $1}'); do
                systemctl disable "$unit" >/dev/null 2>&1 || true
            done
            ;;
        esac
    done
fi
