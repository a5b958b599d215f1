#!/usr/bin/env bash
# tests/package/run.sh DEB -- the package, as an operator meets it
# (`make test-package`). As root, on this machine:
#
#   1. apt-get installs DEB (the user `optimist` and the folders appear;
#      nothing starts);
#   2. a private MariaDB in a temporary folder (scripts/mariadb.sh) gets
#      the database user `optimist` (unix_socket), and the installed
#      `optimistctl` migrates it and creates a tenant, as user optimist;
#   3. the pool is started the way the installed unit starts it: its
#      User=, UMask=, Environment= lines and ExecStartPre/ExecStart (only
#      the runtime folder moves from /run/optimist to the temporary folder,
#      so that a real install on the machine is not disturbed);
#   4. a fresh nginx (workers as www-data) includes the installed snippets
#      and serves the smoke test: healthz, a session created, a conflict,
#      a 428, and a rolling reload (SIGHUP) under requests that all answer;
#   5. everything it started is stopped by pid, and the package purged
#      (KEEP_PACKAGE=1 leaves it installed).
#
# Prints "package test: ok" at the end; exits non-zero at the first failure.
set -euo pipefail

deb=${1:?usage: tests/package/run.sh path/to/optimist_*.deb}
deb=$(realpath "$deb")
here=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "package test: needs root (it installs $deb)" >&2; exit 2; }

say() { printf 'package test: %s\n' "$*"; }
die() { printf 'package test: FAILED: %s\n' "$*" >&2; exit 1; }

tmp=$(mktemp -d /tmp/optimist-pkg.XXXXXX)
chmod 0755 "$tmp"
pool_pid= nginx_pid=
cleanup() {
    set +e
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null
    [ -n "$pool_pid" ] && kill "$pool_pid" 2>/dev/null
    for _ in $(seq 100); do
        { [ -n "$pool_pid" ] && kill -0 "$pool_pid" 2>/dev/null; } ||
            { [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; } || break
        sleep 0.1
    done
    "$here/scripts/mariadb.sh" stop "$tmp/db" >/dev/null 2>&1
    if [ "${KEEP_PACKAGE:-}" != 1 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y optimist >/dev/null 2>&1
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# 1. install
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$deb" \
    >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; die "apt-get install"; }
getent passwd optimist >/dev/null || die "no user optimist"
# nginx may connect to the socket (group optimist-web), not read secrets
# (group optimist).
id -nG www-data | tr ' ' '\n' | grep -qx optimist-web || die "www-data is not in group optimist-web"
! id -nG www-data | tr ' ' '\n' | grep -qx optimist || die "www-data is in group optimist"
! runuser -u www-data -- cat /etc/optimist/optimist.conf >/dev/null 2>&1 ||
    die "www-data can read /etc/optimist/optimist.conf"
runuser -u optimist -- cat /etc/optimist/optimist.conf >/dev/null ||
    die "optimist cannot read /etc/optimist/optimist.conf"
dpkg-query -W -f='${Depends}' optimist | grep -q bubblewrap || die "no Depends on bubblewrap"
[ "$(stat -c '%a %U:%G' /etc/optimist/optimist.conf)" = "640 root:optimist" ] ||
    die "/etc/optimist/optimist.conf is $(stat -c '%a %U:%G' /etc/optimist/optimist.conf)"
for f in /usr/sbin/optimist-fcgi /usr/bin/optimistctl /lib/systemd/system/optimist-fcgi.service \
         /usr/share/optimist/nginx/optimist.conf /usr/share/man/man8/optimistctl.8.gz \
         /usr/share/man/man5/optimist.conf.5.gz \
         /etc/logrotate.d/optimist /usr/share/optimist/sql/0001_platform.sql; do
    [ -e "$f" ] || die "$f is missing"
done
# man 5 optimist.conf finds the page generated from the option table.
if command -v man >/dev/null; then
    [ "$(man -w 5 optimist.conf)" = /usr/share/man/man5/optimist.conf.5.gz ] ||
        die "man 5 optimist.conf: $(man -w 5 optimist.conf 2>&1)"
fi
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify /lib/systemd/system/optimist-fcgi.service ||
        die "systemd-analyze verify"
    # The unit's exposure (the offline analysis: no systemd needed).
    score=$(systemd-analyze security --offline=true \
        /lib/systemd/system/optimist-fcgi.service 2>/dev/null |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    [ -n "$score" ] && python3 -c "import sys; sys.exit(float('$score') > 2.0)" ||
        die "systemd-analyze security: ${score:-no score} (more than 2.0)"
    say "systemd-analyze security: $score"
fi
say "installed $(dpkg-query -W -f='${Version}' optimist)"

# 2. database, migrations, tenant -- as the service's user
MARIADB_TIMEOUT=60 "$here/scripts/mariadb.sh" start "$tmp/db" >"$tmp/db.log" 2>&1 ||
    { cat "$tmp/db.log" >&2; die "MariaDB did not start"; }
chmod 0755 "$tmp/db"
sock=$tmp/db/mysqld.sock
mariadb --no-defaults --socket="$sock" --user=root -e \
    "CREATE USER IF NOT EXISTS optimist@localhost IDENTIFIED VIA unix_socket;
     GRANT ALL ON optimist.* TO optimist@localhost" ||
    die "creating the database user"
conf=$tmp/optimist.conf
sed "s|^OPTIMIST_DB_SOCKET=.*|OPTIMIST_DB_SOCKET=$sock|" /etc/optimist/optimist.conf >"$conf"
chown root:optimist "$conf"
chmod 0640 "$conf"
as_optimist() { runuser -u optimist -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin OPTIMIST_CONFIG="$conf" "$@"; }
as_optimist optimistctl --json migrate --dry-run | grep -q '"0001_platform.sql"' ||
    die "migrate --dry-run does not list the migrations"
as_optimist optimistctl migrate || die "optimistctl migrate"
as_optimist optimistctl check || die "optimistctl check"
token=$(as_optimist optimistctl tenant create pkg-test |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') ||
    die "tenant create"
say "migrated, tenant created"

# 3. the pool, as the unit starts it
unit=/lib/systemd/system/optimist-fcgi.service
run=$tmp/run
user=$(sed -n 's/^User=//p' "$unit")
umask_=$(sed -n 's/^UMask=//p' "$unit")
mode=$(sed -n 's/^RuntimeDirectoryMode=//p' "$unit")
install -d -o "$user" -g "$user" -m "$mode" "$run"
envs=()
while IFS= read -r line; do
    v=${line#Environment=}
    v=${v//\/run\/optimist/$run}
    [[ $v == OPTIMIST_CONFIG=* ]] && v="OPTIMIST_CONFIG=$conf"
    envs+=("$v")
done < <(grep '^Environment=' "$unit")
pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
start=$(sed -n 's/^ExecStart=//p' "$unit")
runuser -u "$user" -- env -i PATH=/usr/sbin:/usr/bin "${envs[@]}" $pre >/dev/null ||
    die "ExecStartPre ($pre) failed"
( umask "$umask_"; exec setsid runuser -u "$user" -- env -i PATH=/usr/sbin:/usr/bin \
    "${envs[@]}" $start ) </dev/null >"$tmp/pool.log" 2>&1 &
for _ in $(seq 200); do
    [ -S "$run/optimist.sock" ] && [ -s "$run/optimist.pid" ] && break
    sleep 0.05
done
[ -s "$run/optimist.pid" ] || { cat "$tmp/pool.log" >&2; die "the pool did not start"; }
pool_pid=$(cat "$run/optimist.pid")
[ "$(stat -c %U /proc/"$pool_pid")" = "$user" ] || die "the pool does not run as $user"
say "pool started as $user (pid $pool_pid)"

# 4. nginx with the installed snippets, workers as www-data
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/nginx"
cp /etc/nginx/fastcgi_params "$tmp/nginx/"
sed "s|/run/optimist/optimist.sock|$run/optimist.sock|" \
    /usr/share/optimist/nginx/optimist-upstream.conf >"$tmp/nginx/upstream.conf"
cat >"$tmp/nginx/nginx.conf" <<NGINX
user www-data;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 256; }
http {
    access_log $tmp/nginx/access.log;
    client_body_temp_path $tmp/nginx/body;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    proxy_temp_path $tmp/nginx/proxy;
    scgi_temp_path $tmp/nginx/scgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    include $tmp/nginx/upstream.conf;
    server {
        listen 127.0.0.1:$port;
        include /usr/share/optimist/nginx/optimist.conf;
        include /usr/share/optimist/nginx/optimist-fallback.conf;
    }
}
NGINX
nginx -t -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx-t.log" ||
    { cat "$tmp/nginx-t.log" >&2; die "nginx -t"; }
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" || die "nginx did not start"
for _ in $(seq 100); do [ -s "$tmp/nginx/nginx.pid" ] && break; sleep 0.05; done
nginx_pid=$(cat "$tmp/nginx/nginx.pid")

base=http://127.0.0.1:$port
code() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }
[ "$(code "$base/healthz")" = 200 ] || die "healthz: $(cat "$tmp/body")"
auth=(-H "Authorization: Bearer $token" -H 'Content-Type: application/json')
[ "$(code -X POST "${auth[@]}" -d '{"title":"from the package"}' "$base/v1/sessions")" = 201 ] ||
    die "POST /v1/sessions: $(cat "$tmp/body")"
sid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$tmp/body")
[ "$(code -X POST "${auth[@]}" -d '{"version":1,"message":{"role":"user","content":"hi"}}' \
    "$base/v1/sessions/$sid/messages")" = 200 ] || die "append: $(cat "$tmp/body")"
[ "$(code -X POST "${auth[@]}" -d '{"version":1,"message":{"role":"user","content":"stale"}}' \
    "$base/v1/sessions/$sid/messages")" = 409 ] || die "stale append: $(cat "$tmp/body")"
[ "$(code -X POST "${auth[@]}" -d '{"message":{"role":"user","content":"none"}}' \
    "$base/v1/sessions/$sid/messages")" = 428 ] || die "no version: $(cat "$tmp/body")"
say "smoke test through nginx: 201, 200, 409, 428"

# A rolling reload (what `systemctl reload` and an upgrade do) under load:
# every request answers 200.
fails=0 n=0
kill -HUP "$pool_pid"
end=$((SECONDS + 3))
while [ $SECONDS -lt $end ]; do
    c=$(code "${auth[@]}" "$base/v1/sessions/$sid")
    n=$((n + 1))
    [ "$c" = 200 ] || fails=$((fails + 1))
done
grep -q "reload done" "$tmp/pool.log" || die "the reload did not finish: $(tail -5 "$tmp/pool.log")"
[ $fails = 0 ] || die "$fails of $n requests failed during the reload"
say "reload under $n requests: 0 failed"
say ok
