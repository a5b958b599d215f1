"""test_install.py -- what an operator meets: `make install` into a
DESTDIR (and without one: the configuration root:optimist 0640), the
systemd unit (systemd-analyze verify, and security: at most 2.0), sd_notify,
the log file reopened on SIGUSR1 (logrotate), and optimistctl's admin commands with
their refusals. The package itself (`make deb`, installed on the machine)
is tested by `make test-package` (tests/package/run.sh)."""

import grp
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading

import harness

UNIT = os.path.join(harness.REPO, "packaging", "systemd",
                    "optimist-fcgi.service")


def installed_tree():
    """`make install PREFIX=/usr DESTDIR=<tmp>` of the binaries under test;
    returns the DESTDIR."""
    dest = tempfile.mkdtemp(prefix="optimist-install-")
    r = subprocess.run(
        ["make", "--no-print-directory", "-o", "all", "install",
         "PREFIX=/usr", "DESTDIR=" + dest,
         "BIN=" + os.path.relpath(harness.BIN, harness.REPO)],
        cwd=harness.REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return dest


def ctl(stack, *args, exe=None, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("OPTIMIST_")}
    e.update(OPTIMIST_DB_SOCKET=stack.db.socket, OPTIMIST_DB_NAME=stack.db.name)
    if harness.SAN:
        e.update(harness.SAN_ENV)
    e.update(env or {})
    # Arguments may be bytes (not UTF-8), as a shell can pass them.
    return subprocess.run([exe or os.path.join(harness.BIN, "optimistctl")]
                          + list(args), env=e, capture_output=True,
                          text=True, errors="replace", timeout=60,
                          stdin=subprocess.DEVNULL)


def test_make_install_puts_every_file_in_place(stack):
    dest = installed_tree()
    try:
        for rel in ("usr/sbin/optimist-fcgi", "usr/bin/optimistctl",
                    "usr/share/optimist/sql/0001_platform.sql",
                    "usr/share/optimist/nginx/optimist.conf",
                    "usr/share/optimist/web/optimist.js",
                    "usr/share/optimist/nginx/optimist-fallback.conf",
                    "usr/share/optimist/nginx/optimist-upstream.conf",
                    "usr/share/man/man8/optimist-fcgi.8",
                    "usr/share/man/man8/optimistctl.8",
                    "usr/share/man/man5/optimist.conf.5",
                    "lib/systemd/system/optimist-fcgi.service",
                    "etc/logrotate.d/optimist",
                    "etc/optimist/optimist.conf"):
            assert os.path.exists(os.path.join(dest, rel)), rel
        sqls = sorted(f for f in os.listdir(os.path.join(harness.REPO, "sql"))
                      if f.endswith(".sql"))
        assert sorted(os.listdir(os.path.join(
            dest, "usr/share/optimist/sql"))) == sqls
        # The commented configuration lists every option the pool knows,
        # and the pool accepts it as it is.
        fcgi = os.path.join(dest, "usr/sbin/optimist-fcgi")
        helptext = subprocess.run([fcgi, "--help"], capture_output=True,
                                  text=True, env=harness.SAN_ENV
                                  if harness.SAN else None).stdout
        names = [l.split()[0] for l in helptext.splitlines()
                 if l.startswith("  OPTIMIST_")]
        assert len(names) > 10, helptext
        conf = os.path.join(dest, "etc/optimist/optimist.conf")
        text = open(conf).read()
        for n in names:
            assert ("#%s=" % n) in text or ("\n%s=" % n) in text, n
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OPTIMIST_")}
        env["OPTIMIST_CONFIG"] = conf
        r = subprocess.run([fcgi, "--check"], capture_output=True, text=True,
                           env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        # optimist.conf(5), generated from the same table: every option
        # with its default, and `man 5 optimist.conf` finds it and
        # renders it without a warning.
        man5 = os.path.join(dest, "usr/share/man/man5/optimist.conf.5")
        page = open(man5).read()
        for l in helptext.splitlines():
            if l.startswith("  OPTIMIST_"):
                name, default = l.split()[:2]
                entry = page.split(".TP\n.B %s\n" % name)
                assert len(entry) == 2, name
                if default not in ('""', "2*cores"):
                    want = "Default: \\fB%s\\fR" % default.replace("-", "\\-")
                    assert want in entry[1].split(".TP")[0], (name, want)
        if shutil.which("man"):
            r = subprocess.run(
                ["man", "--warnings", "-M", os.path.join(dest, "usr/share/man"),
                 "5", "optimist.conf"], capture_output=True, text=True,
                env=dict(os.environ, MANPAGER="cat", PAGER="cat",
                         MANWIDTH="80"), timeout=60)
            assert r.returncode == 0 and not r.stderr.strip(), r.stderr
            assert "OPTIMIST_STREAM_POLL_MS" in r.stdout, r.stdout[:400]
        # The installed optimistctl finds the installed migrations by
        # itself (PREFIX/share/optimist/sql): all applied on this stack.
        r = ctl(stack, "--json", "migrate", "--dry-run",
                exe=os.path.join(dest, "usr/bin/optimistctl"))
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"dry_run": True, "pending": []}
        # A second install keeps an edited configuration.
        with open(conf, "a") as f:
            f.write("OPTIMIST_WORKERS=3\n")
        again = subprocess.run(
            ["make", "--no-print-directory", "-o", "all", "install",
             "PREFIX=/usr", "DESTDIR=" + dest,
             "BIN=" + os.path.relpath(harness.BIN, harness.REPO)],
            cwd=harness.REPO, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert "OPTIMIST_WORKERS=3\n" in open(conf).read()
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_systemd_unit_passes_systemd_analyze_verify():
    if shutil.which("systemd-analyze") is None:
        harness.skip("systemd-analyze is not installed")
    d = tempfile.mkdtemp(prefix="optimist-unit-")
    try:
        # The unit as installed, pointing at the binary under test; the
        # man pages it names, findable (verify runs `man` on them).
        fcgi = os.path.join(harness.BIN, "optimist-fcgi")
        text = open(UNIT).read().replace("/usr/sbin/optimist-fcgi", fcgi)
        unit = os.path.join(d, "optimist-fcgi.service")
        with open(unit, "w") as f:
            f.write(text)
        man8 = os.path.join(d, "man", "man8")
        os.makedirs(man8)
        for m in ("optimist-fcgi.8", "optimistctl.8"):
            shutil.copy(os.path.join(harness.REPO, "packaging", "man", m),
                        man8)
        env = dict(os.environ, MANPATH=os.path.join(d, "man"))
        r = subprocess.run(["systemd-analyze", "verify", unit],
                           capture_output=True, text=True, env=env,
                           timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "optimist-fcgi" not in r.stderr, r.stderr
        # The things the unit promises, checked on the text.
        for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID",
                     "User=optimist", "RuntimeDirectory=optimist",
                     "ProtectSystem=strict", "NoNewPrivileges=yes",
                     "PrivateTmp=yes"):
            assert line in text.splitlines(), line
        # Its exposure, by systemd's own measure (offline: no systemd
        # needed): at most 2.0 (it was 3.2 before the sandbox work).
        r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                            unit], capture_output=True, text=True, env=env,
                           timeout=60)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)",
                      r.stdout)
        assert m, r.stdout[-500:] + r.stderr
        assert float(m.group(1)) <= 2.0, r.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_master_tells_systemd_ready_reloading_stopping():
    d = tempfile.mkdtemp(prefix="optimist-notify-")
    path = os.path.join(d, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    st = harness.Stack("notify")
    try:
        st.start(workers=2, env={"NOTIFY_SOCKET": path})

        def next_state():
            msg = sock.recv(4096).decode()
            return dict(l.split("=", 1) for l in msg.splitlines() if "=" in l)
        first = next_state()
        assert first.get("READY") == "1", first
        assert "2 workers" in first.get("STATUS", ""), first
        st.signal_pool(signal.SIGHUP)
        assert next_state().get("RELOADING") == "1"
        again = next_state()
        assert again.get("READY") == "1", again
        st.stop_pool(signal.SIGTERM)
        assert next_state().get("STOPPING") == "1"
    finally:
        st.stop()
        sock.close()
        shutil.rmtree(d, ignore_errors=True)


def test_sigusr1_reopens_the_log_file_in_master_and_workers():
    d = tempfile.mkdtemp(prefix="optimist-logs-")
    log = os.path.join(d, "optimist.log")
    st = harness.Stack("logs")
    try:
        st.start(workers=2, env={"OPTIMIST_LOG_FILE": log})
        st.wait_workers(2)
        assert "master started" in open(log).read()
        # logrotate: move the file away, then SIGUSR1.
        os.rename(log, log + ".1")
        st.signal_pool(signal.SIGUSR1)
        harness.wait_until(lambda: os.path.exists(log) and
                           "log file reopened" in open(log).read(), 10,
                           "the master to reopen the log")
        # The hub (which holds the streams) too.
        harness.wait_until(lambda: "hub: log file reopened" in open(log).read(),
                           10, "the hub to reopen the log")
        # Every worker reopens between requests: a request's access line
        # goes to the new file, whichever worker serves it.
        ids = []
        for _ in range(8):
            r = st.get("/healthz")
            assert r.status == 200, r
            ids.append(r.headers["X-Request-Id"])

        def all_in_new():
            text = open(log).read()
            return all(i in text for i in ids)
        harness.wait_until(all_in_new, 10, "access lines in the new file")
        old = open(log + ".1").read()
        assert not any(i in old for i in ids), "a line went to the old file"
    finally:
        st.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_optimistctl_tenants_and_tokens(stack):
    r = ctl(stack, "tenant", "create", "ctl-acme")
    assert r.returncode == 0, r.stderr
    tid, first = json.loads(r.stdout)["tenant_id"], json.loads(r.stdout)["token"]
    # A second token: both work.
    r = ctl(stack, "token", "create", str(tid))
    assert r.returncode == 0, r.stderr
    second = json.loads(r.stdout)
    assert second["tenant_id"] == tid and second["token"].startswith(
        "opt_" + second["key"] + "_")
    for tok in (first, second["token"]):
        assert stack.post("/v1/sessions", {}, token=tok).status == 201
    # token list: public keys and dates, never a secret.
    r = ctl(stack, "--json", "token", "list", str(tid))
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)["tokens"]
    assert [t["key"] for t in listed] == [first[4:20], second["key"]]
    assert all(t["revoked_at"] is None for t in listed)
    assert first[21:] not in r.stdout and second["token"][21:] not in r.stdout
    # revoke: the token stops working (within the workers' 2 s cache),
    # the other one goes on.
    r = ctl(stack, "--json", "token", "revoke", second["key"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["was_active"] is True
    harness.wait_until(
        lambda: stack.get("/v1/sessions/1", token=second["token"]).status
        == 401, 10, "the revoked token to be refused")
    assert stack.post("/v1/sessions", {}, token=first).status == 201
    r = ctl(stack, "--json", "token", "list", str(tid))
    assert json.loads(r.stdout)["tokens"][1]["revoked_at"] is not None
    # rename and list
    r = ctl(stack, "tenant", "rename", str(tid), "Acme Inc")
    assert r.returncode == 0, r.stderr
    r = ctl(stack, "--json", "tenant", "list")
    rows = {t["id"]: t for t in json.loads(r.stdout)["tenants"]}
    assert rows[tid]["name"] == "Acme Inc"
    assert rows[tid]["active_tokens"] == 1


def test_optimistctl_refuses_bad_input_and_changes_nothing(stack):
    before = stack.sql("SELECT COUNT(*) FROM tenants")
    tokens = stack.sql("SELECT COUNT(*) FROM api_tokens")
    cases = [
        (["tenant", "create", ""], 2),
        (["tenant", "create", "x" * 201], 2),
        (["tenant", "create", "tab\there"], 2),
        (["tenant", "create", b"bad\xffutf8"], 2),
        (["tenant", "rename", "abc", "n"], 2),
        (["tenant", "rename", "0", "n"], 2),
        (["tenant", "rename", "99999", "n"], 1),
        (["token", "create", "1; DROP TABLE tenants"], 2),
        (["token", "create", "99999"], 1),
        (["token", "list", "-1"], 2),
        (["token", "list", "99999"], 1),
        (["token", "revoke", "' OR 1=1 --"], 2),
        (["token", "revoke", "ffffffffffffffff"], 1),
        (["tenant"], 2),
        (["frobnicate"], 2),
        (["migrate", "--dry-run", "a", "b"], 2),
    ]
    for args, status in cases:
        r = ctl(stack, *args)
        assert r.returncode == status, (args, r.returncode, r.stderr)
        assert r.stdout == "", (args, r.stdout)
        lines = r.stderr.strip().splitlines()
        assert lines and lines[0].startswith(("optimistctl:", "usage:")), \
            (args, r.stderr)
        assert "syntax" not in r.stderr and "1064" not in r.stderr, r.stderr
    assert stack.sql("SELECT COUNT(*) FROM tenants") == before
    assert stack.sql("SELECT COUNT(*) FROM api_tokens") == tokens


def test_optimistctl_check_and_dry_run(stack):
    r = ctl(stack, "--json", "check")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] is True and out["database"] == "ok" and \
        out["pending"] == 0, out
    # A migration not yet applied: check fails (for scripts), dry-run
    # lists it, and neither applies it.
    d = tempfile.mkdtemp(prefix="optimist-sql-")
    try:
        for f in os.listdir(os.path.join(harness.REPO, "sql")):
            shutil.copy(os.path.join(harness.REPO, "sql", f), d)
        with open(os.path.join(d, "9999_probe.sql"), "w") as f:
            f.write("CREATE TABLE IF NOT EXISTS probe_9999 (id INT);\n")
        env = {"OPTIMIST_SQL_DIR": d}
        r = ctl(stack, "--json", "check", env=env)
        assert r.returncode == 1
        assert json.loads(r.stdout)["migrations"] == "pending"
        r = ctl(stack, "--json", "migrate", "--dry-run", env=env)
        assert json.loads(r.stdout)["pending"] == ["9999_probe.sql"]
        assert stack.sql("SELECT COUNT(*) FROM information_schema.tables "
                         "WHERE table_name = 'probe_9999'") == [["0"]]
        r = ctl(stack, "--json", "migrate", env=env)
        assert json.loads(r.stdout) == {"applied": 1}, r.stdout + r.stderr
        r = ctl(stack, "--json", "check", env=env)
        assert r.returncode == 0, r.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)
    # A database that cannot be reached: one line, status 1.
    r = ctl(stack, "check", env={"OPTIMIST_DB_SOCKET": "/nonexistent.sock"})
    assert r.returncode == 1
    assert "down" in r.stdout


def test_idempotency_purge_deletes_only_expired_keys(stack):
    tid, tok = stack.tenant()
    r = stack.post("/v1/sessions", {}, token=tok,
                   headers={"Idempotency-Key": "purge-me"})
    assert r.status == 201
    r = stack.post("/v1/sessions", {}, token=tok,
                   headers={"Idempotency-Key": "keep-me"})
    assert r.status == 201
    stack.sql("UPDATE idempotency_keys SET expires_at = UTC_TIMESTAMP(3) - "
              "INTERVAL 1 SECOND WHERE idem_key = 'purge-me'")
    r = ctl(stack, "--json", "idempotency", "purge")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["purged"] >= 1
    left = stack.sql("SELECT idem_key FROM idempotency_keys WHERE tenant_id "
                     "= %d ORDER BY idem_key" % tid)
    assert "keep-me" in str(left) and "purge-me" not in str(left), left


def test_sighup_after_a_new_binary_upgrades_in_place_under_load():
    """A package upgrade renames a new optimist-fcgi over the old one; the
    next SIGHUP (systemctl reload) re-executes it in place: the same master
    pid, every worker replaced by one of the new binary, and every request
    made meanwhile answered."""
    d = tempfile.mkdtemp(prefix="optimist-upgrade-")
    for exe in ("optimist-fcgi", "optimistctl"):
        shutil.copy2(os.path.join(harness.BIN, exe), d)
    saved = harness.BIN
    harness.BIN = d
    st = harness.Stack("upgrade")
    try:
        st.start(workers=3)
        master = st.pool_pid()
        before = set(st.wait_workers(3))
        _, tok = st.tenant()
        stop = []
        answers = []

        def load():
            while not stop:
                r = st.post("/v1/sessions", {}, token=tok)
                answers.append(r.status)
        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        harness.wait_until(lambda: len(answers) > 20, 30, "load to run")
        # The upgrade: a new file renamed over the binary, as dpkg does.
        new = os.path.join(d, ".optimist-fcgi.new")
        shutil.copy2(os.path.join(saved, "optimist-fcgi"), new)
        os.rename(new, os.path.join(d, "optimist-fcgi"))
        mark = st.log_mark()
        st.signal_pool(signal.SIGHUP)
        st.wait_log("reload done", since=mark, timeout=60)
        n = len(answers)
        harness.wait_until(lambda: len(answers) > n + 20, 30,
                           "load after the upgrade")
        stop.append(1)
        for t in threads:
            t.join(30)
        log = st.pool_log(mark)
        assert "upgrade: re-executing" in log, log[-3000:]
        # The 3 workers and the hub, which the roll replaces like them.
        assert "master upgraded: adopting 4 workers" in log, log[-3000:]
        assert st.pool_pid() == master
        exe = os.readlink("/proc/%d/exe" % master)
        assert not exe.endswith("(deleted)"), exe
        after = set(st.wait_workers(3))
        assert not (after & before), (before, after)
        hub = harness.wait_until(st.hub_pid, 10, "the new master's hub")
        assert not os.readlink("/proc/%d/exe" % hub).endswith("(deleted)")
        for pid in after:
            assert not os.readlink("/proc/%d/exe" % pid).endswith(
                "(deleted)")
        bad = [s for s in answers if s != 201]
        assert not bad and len(answers) > 40, (len(answers), bad[:10])
    finally:
        harness.BIN = saved
        st.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_a_broken_new_binary_is_not_executed():
    """A new file at the binary's path that fails --check is left alone:
    the reload goes on with the running binary."""
    d = tempfile.mkdtemp(prefix="optimist-upgrade-")
    for exe in ("optimist-fcgi", "optimistctl"):
        shutil.copy2(os.path.join(harness.BIN, exe), d)
    saved = harness.BIN
    harness.BIN = d
    st = harness.Stack("badupgrade")
    try:
        st.start(workers=2)
        master = st.pool_pid()
        new = os.path.join(d, ".new")
        with open(new, "w") as f:
            f.write("#!/bin/sh\nexit 2\n")
        os.chmod(new, 0o755)
        os.rename(new, os.path.join(d, "optimist-fcgi"))
        mark = st.log_mark()
        st.signal_pool(signal.SIGHUP)
        log = st.wait_log("reload done", since=mark, timeout=60)
        assert "--check failed" in log, log
        assert "re-executing" not in log, log
        assert st.pool_pid() == master
        assert st.get("/healthz").status == 200
    finally:
        harness.BIN = saved
        st.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_a_migration_that_fails_half_way_is_not_recorded_and_reruns(stack):
    """DDL commits statement by statement in MariaDB, so a migration is
    written as idempotent steps: one that fails half way is not recorded,
    says which file failed, and applies cleanly once fixed."""
    d = tempfile.mkdtemp(prefix="optimist-sql-")
    try:
        for f in os.listdir(os.path.join(harness.REPO, "sql")):
            shutil.copy(os.path.join(harness.REPO, "sql", f), d)
        path = os.path.join(d, "9998_half.sql")
        with open(path, "w") as f:
            f.write("CREATE TABLE IF NOT EXISTS half_a (id INT);\n"
                    "CREATE TABLE half_b (id INT NOT A TYPE);\n")
        env = {"OPTIMIST_SQL_DIR": d}
        r = ctl(stack, "migrate", env=env)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "9998_half.sql" in r.stderr, r.stderr
        assert stack.sql("SELECT COUNT(*) FROM schema_migrations WHERE "
                         "version = 9998") == [["0"]]
        with open(path, "w") as f:
            f.write("CREATE TABLE IF NOT EXISTS half_a (id INT);\n"
                    "CREATE TABLE IF NOT EXISTS half_b (id INT);\n")
        r = ctl(stack, "--json", "migrate", env=env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"applied": 1}
        assert stack.sql("SELECT COUNT(*) FROM schema_migrations WHERE "
                         "version = 9998") == [["1"]]
        r = ctl(stack, "--json", "migrate", env=env)
        assert json.loads(r.stdout) == {"applied": 0}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_lines_to_the_journal_carry_its_priority_prefix():
    """When stderr is the journal (JOURNAL_STREAM names it), each line
    starts with the journal's <priority> and leaves the time to it."""
    st = harness.Stack("journal").start(pool=False)
    try:
        fe = st.main
        open(fe.log_path, "ab").close()
        info = os.stat(fe.log_path)
        mark = fe.log_mark()
        fe.start_pool(env={"JOURNAL_STREAM": "%d:%d" % (info.st_dev,
                                                        info.st_ino)})
        fe.wait_workers(fe.workers)
        log = fe.wait_log("master started", since=mark)
        lines = [l for l in log.splitlines() if l and not l.startswith("---")]
        assert lines and all(l.startswith(("<3>", "<4>", "<6>", "<7>"))
                             for l in lines), lines[:5]
        assert any(l.startswith("<6>info pid=") for l in lines), lines[:5]
    finally:
        st.stop()


def test_make_install_gives_the_config_to_the_service_group(stack):
    if os.geteuid() != 0:
        harness.skip("needs root (chown, runuser)")
    try:
        grp.getgrnam("optimist")
    except KeyError:
        subprocess.run(["groupadd", "--system", "optimist"], check=True)
    try:
        subprocess.run(["id", "-u", "optimist"], check=True,
                       capture_output=True)
    except subprocess.CalledProcessError:
        subprocess.run(["useradd", "--system", "--gid", "optimist",
                        "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "optimist"],
                       check=True)
    prefix = tempfile.mkdtemp(prefix="optimist-install-")
    try:
        os.chmod(prefix, 0o755)
        # Without DESTDIR: what an operator's `make install` does.
        r = subprocess.run(
            ["make", "--no-print-directory", "-o", "all", "install",
             "PREFIX=" + prefix,
             "BIN=" + os.path.relpath(harness.BIN, harness.REPO)],
            cwd=harness.REPO, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        conf = os.path.join(prefix, "etc", "optimist", "optimist.conf")
        st = os.stat(conf)
        assert st.st_uid == 0, st
        assert st.st_gid == grp.getgrnam("optimist").gr_gid, st
        assert st.st_mode & 0o777 == 0o640, oct(st.st_mode)
        # optimist reads it; nobody does not.
        ok = subprocess.run(["runuser", "-u", "optimist", "--", "cat", conf],
                            capture_output=True)
        assert ok.returncode == 0, ok.stderr
        no = subprocess.run(["runuser", "-u", "nobody", "--", "cat", conf],
                            capture_output=True)
        assert no.returncode != 0
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
