#!/usr/bin/env bash
# conf-template.sh BIN -- writes the commented /etc/optimist/optimist.conf
# to stdout, from the option table itself (`optimist-fcgi --help`), so the
# shipped file can never list an option the pool does not know or miss one
# it does.
set -euo pipefail
bin=${1:?usage: conf-template.sh path/to/optimist-fcgi}
cat <<'HEAD'
# /etc/optimist/optimist.conf -- settings of the optimist FastCGI pool.
#
# KEY=VALUE lines; '#' starts a comment. The pool reads its environment
# first, then this file (named by OPTIMIST_CONFIG in the systemd unit), and
# `systemctl reload optimist-fcgi` (SIGHUP) reads it again: every option
# but those marked "restart to change" applies to the next generation of
# workers without dropping a request. Check a change first with
#
#     sudo -u optimist OPTIMIST_CONFIG=/etc/optimist/optimist.conf optimist-fcgi --check
#
# Every option, with its default. The unit sets OPTIMIST_LISTEN to
# /run/optimist/optimist.sock and OPTIMIST_PIDFILE to
# /run/optimist/optimist.pid. With MariaDB on this host, the pool connects
# as the OS user `optimist` through the unix socket (unix_socket auth):
# no password is needed or stored here. This file is readable by root and
# the group optimist only: it may hold OPTIMIST_DB_PASSWORD.
HEAD
"$bin" --help | awk '
    /^  OPTIMIST_/ {
        name = $1; def = $2
        help = $0
        sub(/^  [A-Z_]+ +[^ ]+ +/, "", help)
        printf "\n# %s\n", help
        if (def == "\"\"") def = ""
        if (def == "2*cores") def = ""
        printf "#%s=%s\n", name, def
    }'
printf '\n# The database of a package install (see optimistctl(8)):\nOPTIMIST_DB_SOCKET=/run/mysqld/mysqld.sock\nOPTIMIST_DB_NAME=optimist\n'
