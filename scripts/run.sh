#!/usr/bin/env bash
# run.sh -- `make run`: the whole stack from the checkout, under var/.
#
#   PORT=8080 scripts/run.sh      (make run [PORT=...])
#
#   var/mysql/          MariaDB's datadir and its log (scripts/mariadb.sh)
#   var/run/            mysqld.sock, optimist.sock, optimist.pid, port
#   var/nginx/          nginx.conf (from nginx/nginx.conf.in), pid, temp files
#   var/log/            optimist.log, nginx-access.log, nginx-error.log
#   var/demo-tenant.json  the demo tenant, made once and reused
#   var/tables.d/       the declared tables (OPTIMIST_TABLES_DIR): made with
#                       the example shop's products.conf (examples/shop/)
#   var/shop/           the example shop's PHP page, run by php-fpm
#                       (var/run/php-fpm.pid, php.sock) at /shop/
#
# It returns once http://127.0.0.1:$PORT/healthz answers 200; the processes
# go on in the background until `make stop` (scripts/stop.sh). What already
# runs is left alone; if a step fails, everything is stopped again.
# The pool takes its other options (OPTIMIST_WORKERS, OPTIMIST_LOG_LEVEL, ...)
# from the environment. OPTIMIST_VAR puts var/ elsewhere (the tests use it).
#
# As root, nothing of the stack handles a request as root: MariaDB, the pool
# and nginx's workers run as the system user `optimist` (made with useradd
# --system when missing). The pool is started with no capability at all
# (setpriv); evaluators run in bubblewrap, in namespaces of their own
# (fcgi/hub/sandbox.h), and the pool runs from a copy of the binary in
# var/bin (the checkout may not be readable by optimist). nginx's master
# stays root (it only reads the config and opens the port and logs). var/
# and var/run are 0750, the pool's socket 0660, all owned by optimist.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
port=${PORT:-8080}
var=${OPTIMIST_VAR:-$repo/var}
bin=${BIN:-bin}
url=http://127.0.0.1:$port
db_sock=$var/run/mysqld.sock
fcgi_sock=$var/run/optimist.sock
fcgi_pid=$var/run/optimist.pid
nginx_pid=$var/nginx/nginx.pid
php_pid=$var/run/php-fpm.pid
php_sock=$var/run/php.sock
tables_dir=$var/tables.d
tenant_file=$var/demo-tenant.json

me=run.sh
# shellcheck source=common.sh
. "$PWD/scripts/common.sh"   # (the script has cd-ed to the checkout)


healthy() {
    curl -fsS -o /dev/null --max-time 2 "$url/healthz" 2>/dev/null
}

# php-fpm for the example shop (examples/shop): Debian's php-fpm8.2 or so;
# its processes are named after the binary (/proc/PID/comm, 15 characters).
php_fpm=
for f in /usr/sbin/php-fpm /usr/sbin/php-fpm[0-9]*; do
    [ -x "$f" ] && php_fpm=$f
done
php_comm=$(basename "${php_fpm:-php-fpm}" | cut -c1-15)

db_up=0 pool_up=0 nginx_up=0 php_up=0
running "$var/mysql/mariadbd.pid" mariadbd && db_up=1
running "$fcgi_pid" optimist-fcgi && pool_up=1
running "$nginx_pid" nginx && nginx_up=1
{ [ -z "$php_fpm" ] || running "$php_pid" "$php_comm"; } && php_up=1
if [ $db_up = 1 ] && [ $pool_up = 1 ] && [ $nginx_up = 1 ] && [ $php_up = 1 ]; then
    [ -s "$var/run/port" ] && url=http://127.0.0.1:$(cat "$var/run/port")
    say "optimist: already running on $url (make stop to stop it)"
    [ -s "$tenant_file" ] && say "demo tenant: $tenant_file"
    exit 0
fi

for f in "$bin/optimist-fcgi" "$bin/optimistctl"; do
    [ -x "$f" ] || die "$f is not built: run make first"
done
for s in "$db_sock" "$fcgi_sock"; do
    [ ${#s} -le 107 ] || die "path too long for a unix socket: $s (move the checkout to a shorter path)"
done

on_exit() {
    local rc=$?
    if [ $rc -ne 0 ]; then
        say "run.sh: the stack did not come up; logs are in var/log/ and var/mysql/mariadbd.log. Stopping it." >&2
        scripts/stop.sh >&2 || true
    fi
}
trap on_exit EXIT

mkdir -p "$var/run" "$var/log" "$var/nginx/tmp" "$var/mysql" "$tables_dir" "$var/shop"
chmod 0750 "$var" "$var/run"

# As root: the users, and var/ theirs.
run_user= pool_cmd=("$bin/optimist-fcgi")
if [ "$(id -u)" = 0 ]; then
    run_user=optimist
    for u in optimist; do
        id -u "$u" >/dev/null 2>&1 ||
            useradd --system --user-group --no-create-home \
                --home-dir /nonexistent --shell /usr/sbin/nologin "$u" ||
            die "cannot create the system user $u"
    done
    chown -R optimist:optimist "$var"
    chown root:optimist "$var/log" && chmod 0750 "$var/log"
    mkdir -p "$var/bin"
    chown root:root "$var/bin" && chmod 0755 "$var/bin"
    install -m 0755 -o root -g root "$bin/optimist-fcgi" "$var/bin/optimist-fcgi"
    chown root:root "$var/shop" && chmod 0755 "$var/shop"
    pool_cmd=(setpriv --reuid=optimist --regid=optimist --init-groups
        --inh-caps=-all --bounding-set=-all -- "$var/bin/optimist-fcgi")
    say "running as root: MariaDB, the pool and nginx's workers run as optimist (no capability); evaluators in bubblewrap"
fi

# 1. MariaDB, its socket where optimistctl looks by default.
MARIADB_SOCKET=$db_sock MARIADB_RUN_AS=$run_user scripts/mariadb.sh start "$var/mysql"
if [ -n "$run_user" ]; then
    # Its own account, through its own unix socket identity, on the
    # service's database only (a datadir made before may lack it).
    mariadb --no-defaults --socket="$db_sock" --user=root --batch -e "
        CREATE USER IF NOT EXISTS '$run_user'@'localhost' IDENTIFIED VIA unix_socket;
        GRANT ALL PRIVILEGES ON \`${OPTIMIST_DB_NAME:-optimist}\`.* TO '$run_user'@'localhost';" ||
        die "cannot create the database account $run_user"
fi

export OPTIMIST_DB_SOCKET=$db_sock
export OPTIMIST_DB_NAME=${OPTIMIST_DB_NAME:-optimist}

# 2. The schema.
"$bin/optimistctl" migrate

# 2b. The example shop's own table (examples/shop/schema.sql, as its PHP
# application would have made it), declared in var/tables.d/ and prepared
# (the version column and the triggers that make its plain SQL visible).
# A declaration already there is the user's: left as it is.
export OPTIMIST_TABLES_DIR=$tables_dir
mariadb --no-defaults --socket="$db_sock" ${run_user:+--user=root} \
    "$OPTIMIST_DB_NAME" <examples/shop/schema.sql ||
    die "cannot create the example table products (examples/shop/schema.sql)"
if [ ! -e "$tables_dir/products.conf" ]; then
    install -m 0644 examples/shop/products.conf "$tables_dir/products.conf"
    [ -n "$run_user" ] && chown "$run_user:$run_user" "$tables_dir/products.conf"
fi
"$bin/optimistctl" table prepare products >/dev/null ||
    die "optimistctl table prepare products failed"

# 3. The FastCGI pool, in its own session so that a Ctrl-C in this terminal
# does not reach it.
if [ $pool_up = 0 ]; then
    rm -f "$fcgi_pid"
    OPTIMIST_LISTEN=$fcgi_sock OPTIMIST_PIDFILE=$fcgi_pid \
        setsid "${pool_cmd[@]}" </dev/null >>"$var/log/optimist.log" 2>&1 &
    starter=$!
    pool_ready() {
        if ! alive "$starter" && ! running "$fcgi_pid" optimist-fcgi; then
            tail -n 20 "$var/log/optimist.log" >&2
            die "optimist-fcgi exited during start (var/log/optimist.log)"
        fi
        [ -S "$fcgi_sock" ] && running "$fcgi_pid" optimist-fcgi
    }
    wait_for 30 "optimist-fcgi to listen on $fcgi_sock" pool_ready
    say "optimist-fcgi: started (pid $(cat "$fcgi_pid"), socket $fcgi_sock)"
fi

# 3b. php-fpm for the example shop's page (examples/shop/index.php, copied
# to var/shop: the checkout may not be readable by the pool's user), as a
# process of this stack (no system service), stopped by make stop.
if [ -n "$php_fpm" ] && [ $php_up = 0 ]; then
    install -m 0644 examples/shop/index.php "$var/shop/index.php"
    mkdir -p "$var/php"
    user_lines= db_user=$(id -un)
    if [ -n "$run_user" ]; then
        user_lines="user = $run_user\ngroup = $run_user\nlisten.owner = $run_user\nlisten.group = $run_user"
        db_user=$run_user
        chown "$run_user:$run_user" "$var/php"
    fi
    sed -e "s|@DIR@|$var/php|g" -e "s|@SOCKET@|$php_sock|g" \
        -e "s|@USER_LINES@|$user_lines|g" -e "s|@CHILDREN@|4|g" \
        -e "s|@DB_SOCKET@|$db_sock|g" -e "s|@DB_NAME@|$OPTIMIST_DB_NAME|g" \
        -e "s|@DB_USER@|$db_user|g" \
        -e "s|^pid = .*|pid = $php_pid|" -e "s|^error_log = .*|error_log = $var/log/php-fpm.log|" \
        examples/shop/php-fpm.conf.in >"$var/php/php-fpm.conf"
    rm -f "$php_pid"
    setsid "$php_fpm" -F -y "$var/php/php-fpm.conf" -p "$var/php" \
        </dev/null >>"$var/log/php-fpm.log" 2>&1 &
    php_ready() { [ -S "$php_sock" ] && running "$php_pid" "$php_comm"; }
    wait_for 20 "php-fpm to listen on $php_sock" php_ready
    say "php-fpm: started (pid $(cat "$php_pid"), the example shop at /shop/)"
elif [ -z "$php_fpm" ]; then
    say "php-fpm is not installed: no example shop at /shop/ (scripts/deps.sh installs it)"
fi

# 4. nginx, from the template.
if [ $nginx_up = 0 ]; then
    sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
    user_line=
    [ -n "$run_user" ] && user_line="user $run_user $run_user;"
    sed -e "s|@PREFIX@|$(sed_escape "$var/nginx")|g" \
        -e "s|@LOG_DIR@|$(sed_escape "$var/log")|g" \
        -e "s|@CONF_DIR@|$(sed_escape "$repo/nginx")|g" \
        -e "s|@LISTEN_ADDR@|127.0.0.1|g" \
        -e "s|@PORT@|$port|g" \
        -e "s|@FCGI_SOCKET@|$(sed_escape "$fcgi_sock")|g" \
        -e "s|@USER_LINE@|$user_line|g" \
        nginx/nginx.conf.in >"$var/nginx/nginx.conf"
    # The pages of web/ at / (nginx/optimist-web.conf).
    printf 'root "%s";\ninclude "%s";\n' "$repo/web" "$repo/nginx/optimist-web.conf" \
        >"$var/nginx/web.conf"
    # The example shop's location (nginx.conf.in includes web*.conf).
    rm -f "$var/nginx/web-shop.conf"
    if [ -n "$php_fpm" ]; then
        sed -e "s|@SHOP_ROOT@|$(sed_escape "$var/shop")|g" \
            -e "s|@PHP_SOCKET@|$(sed_escape "$php_sock")|g" \
            examples/shop/nginx-shop.conf.in >"$var/nginx/web-shop.conf"
    fi
    cp /etc/nginx/fastcgi_params "$var/nginx/fastcgi_params" ||
        die "no /etc/nginx/fastcgi_params: is nginx installed? (scripts/deps.sh)"
    nginx -t -q -p "$var/nginx" -c "$var/nginx/nginx.conf" ||
        die "nginx -t failed on var/nginx/nginx.conf"
    rm -f "$nginx_pid"
    nginx -p "$var/nginx" -c "$var/nginx/nginx.conf" ||
        die "nginx did not start (is port $port taken? PORT=... make run)"
    wait_for 10 "nginx's pid file" running "$nginx_pid" nginx
    echo "$port" >"$var/run/port"
    say "nginx: started (pid $(cat "$nginx_pid"), $url)"
else
    [ -s "$var/run/port" ] && port=$(cat "$var/run/port") && url=http://127.0.0.1:$port
fi

# 5. Up means /healthz says so (the pool reached the database).
wait_for 30 "$url/healthz to answer 200" healthy

# 6. The demo tenant: made once, kept while the database knows its token.
token_of() { sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' "$1"; }
token=
if [ -s "$tenant_file" ]; then
    token=$(token_of "$tenant_file")
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
        -H "Authorization: Bearer $token" "$url/v1/sessions/0" || true)
    [ "$code" = 401 ] && token=
fi
if [ -z "$token" ]; then
    (umask 077 && "$bin/optimistctl" tenant create demo >"$tenant_file.new")
    mv "$tenant_file.new" "$tenant_file"
    token=$(token_of "$tenant_file")
    [ -n "$token" ] || die "optimistctl tenant create printed no token"
fi
trap - EXIT

cat <<EOF

optimist is running on $url   (make stop to stop it)
  logs: var/log/optimist.log, var/log/nginx-access.log, var/log/nginx-error.log,
        var/mysql/mariadbd.log
  demo tenant: $(cat "$tenant_file")   (saved in var/demo-tenant.json)

Open the pages (the token rides in the URL's fragment, never sent to a server):

  $url/#token=$token

Try it:

  TOKEN=$token

  # 1. create an agent session: 201, version 1
  curl -s -X POST $url/v1/sessions -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -d '{"title": "demo"}'

  ID=1   # the "id" it printed

  # 2. read it back, with its ETag
  curl -si $url/v1/sessions/\$ID -H "Authorization: Bearer \$TOKEN"

  # 3. append a message as a client that last saw version 1: 200 and
  #    version 2 the first time; run it again and the now stale version
  #    gets 409 version_conflict, with the current session in the body
  curl -s -X POST $url/v1/sessions/\$ID/messages -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' \\
       -d '{"version": 1, "message": {"role": "user", "content": "hello"}}'

Your own table: the example shop's products (examples/shop), declared in
var/tables.d/products.conf, while its PHP page keeps writing it with plain SQL:

  # 4. a product, through optimist: 201, version 1
  curl -s -X POST $url/v1/tables/products -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -d '{"name": "tea", "qty": 10, "price": "4.50"}'

  PID=1   # the "id" it printed

  # 5. the shop's own PHP page adds one, the plain way
  #    (UPDATE products SET qty = qty + 1 WHERE id = ?)
  curl -s -X POST $url/shop/products/\$PID/increment

  # 6. a client that last saw version 1 sets qty: 409 version_conflict with
  #    the current row (version 2, qty 11): the increment is never lost
  curl -s -X PATCH $url/v1/tables/products/\$PID -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -d '{"version": 1, "qty": 0}'

  # 7. the changes to the table, live (Ctrl-C to stop)
  curl -sN $url/v1/tables/products/events -H "Authorization: Bearer \$TOKEN" \\
       -H 'Accept: text/event-stream'

After editing var/tables.d/: make reload
EOF
