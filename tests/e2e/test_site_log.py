"""test_site_log.py -- the example site (packaging/nginx/optimist-site.conf)
under a stock nginx.conf (an http{} with the combined access log, the site
included from it): a stream's ?ticket= (a credential for an hour) is not
in any access log; the request line is logged with it cut out."""

import os
import shutil
import signal
import subprocess
import tempfile

import harness


def _pid(d):
    try:
        with open(os.path.join(d, "nginx.pid")) as f:
            return int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def test_the_example_site_does_not_log_tickets(stack):
    d = tempfile.mkdtemp(prefix="optimist-site-")
    port = harness.free_port()
    with open(os.path.join(harness.REPO, "packaging", "nginx",
                           "optimist-site.conf")) as f:
        site = f.read()
    site = (site.replace("listen 80;", "listen 127.0.0.1:%d;" % port)
            .replace("listen [::]:80;", "")
            .replace("/var/log/nginx/access.log", d + "/site-access.log")
            .replace("/usr/share/optimist/nginx/",
                     harness.REPO + "/nginx/"))
    with open(os.path.join(d, "site.conf"), "w") as f:
        f.write(site)
    shutil.copy("/etc/nginx/fastcgi_params", d)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""%(user)s
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 64; }
http {
    access_log %(d)s/stock-access.log;   # Debian's: the combined format
    client_body_temp_path %(d)s/body;
    fastcgi_temp_path %(d)s/fastcgi;
    proxy_temp_path %(d)s/proxy;
    scgi_temp_path %(d)s/scgi;
    uwsgi_temp_path %(d)s/uwsgi;
    upstream optimist { server unix:%(sock)s; }
    include %(d)s/site.conf;
}
""" % {"d": d, "sock": stack.main.fcgi_socket,
       "user": "user root;" if os.getuid() == 0 else ""})
    pid = None
    secret = "tkt_%d_do_not_log" % os.getpid()
    try:
        r = subprocess.run(["nginx", "-p", d, "-c", conf],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        pid = harness.wait_until(lambda: _pid(d), 10, "the site's nginx")
        r = harness.request("127.0.0.1", port, "GET",
                            "/v1/bids/1/events?ticket=" + secret,
                            headers={"Accept": "text/event-stream"})
        assert r.status in (401, 403, 404), r
        r = harness.request("127.0.0.1", port, "GET", "/healthz")
        assert r.status == 200, r
        site_log = os.path.join(d, "site-access.log")
        harness.wait_until(lambda: os.path.exists(site_log) and
                           "/healthz" in open(site_log).read(), 5,
                           "the site's access log")
        logs = ""
        for name in os.listdir(d):
            if name.endswith(".log"):
                with open(os.path.join(d, name)) as f:
                    logs += f.read()
        assert secret not in logs, logs
        with open(site_log) as f:
            text = f.read()
        assert "/v1/bids/1/events?ticket=(hidden)" in text, text
    finally:
        if pid:
            os.kill(pid, signal.SIGTERM)
            harness.wait_until(lambda: not harness.alive(pid), 10,
                               "the site's nginx to stop")
        shutil.rmtree(d, ignore_errors=True)
