"""test_stack.py -- the parts around the pool: nginx's shipped configuration
(nginx/optimist.conf, optimist-fallback.conf, nginx.conf.in) and the
harness itself. Every answer nginx makes on its own must be the contract's
JSON error body."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile

import harness


def assert_json_error(r, status, code):
    assert r.status == status, r
    assert r.headers.get("Content-Type", "").startswith("application/json"), \
        r.headers.get("Content-Type")
    body = r.json()
    assert body["error"] == code, body
    assert isinstance(body.get("message"), str) and body["message"], body
    assert r.headers.get("X-Request-Id"), r.headers


def test_nginx_config_passes_nginx_t(stack):
    r = stack.nginx_test()
    assert r.returncode == 0, r.stderr
    assert "syntax is ok" in r.stderr, r.stderr


def test_healthz_through_nginx(stack):
    if not stack.pool_alive():
        harness.skip("bin/optimist-fcgi is not built")
    r = stack.get("/healthz")
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"status": "ok", "db": "ok"}, r.json()
    rid = r.headers["X-Request-Id"]
    assert len(rid) == 32 and all(c in "0123456789abcdef" for c in rid), rid


def test_request_id_reaches_the_pool_log(stack):
    if not stack.pool_alive():
        harness.skip("bin/optimist-fcgi is not built")
    mark = stack.log_mark()
    r = stack.get("/healthz")
    stack.wait_log(r.headers["X-Request-Id"], since=mark)


def test_body_over_1mib_is_413_json(stack):
    r = stack.post("/v1/sessions", raw_body=b"x" * (2 << 20),
                   headers={"Content-Type": "application/json"})
    assert_json_error(r, 413, "payload_too_large")


def test_body_of_exactly_1mib_passes_nginx(stack):
    body = b'"' + b"a" * ((1 << 20) - 2) + b'"'
    assert len(body) == 1 << 20
    r = stack.post("/v1/sessions", raw_body=body,
                   headers={"Content-Type": "application/json"})
    assert r.status != 413, r


def test_paths_outside_the_api_are_json_404(stack):
    for method, path in [("GET", "/"), ("GET", "/index.html"),
                         ("GET", "/v1"), ("POST", "/nope"),
                         ("GET", "/healthz/x"), ("DELETE", "/metrics/")]:
        r = stack.http(method, path)
        assert_json_error(r, 404, "not_found")


def test_metrics_only_from_loopback(stack):
    r = stack.get("/metrics", source_address=("127.0.0.2", 0))
    assert_json_error(r, 404, "not_found")
    r = stack.get("/metrics")
    if not stack.pool_alive():
        assert_json_error(r, 503, "unavailable")
        harness.skip("bin/optimist-fcgi is not built: only the denial checked")
    assert r.status == 200, r
    assert b"optimist_http_requests_total" in r.body, r.body[:300]


def test_pool_down_is_json_503_with_retry_after(stack):
    fe = stack.add_frontend(pool=False)
    try:
        for path in ("/healthz", "/v1/sessions", "/metrics"):
            r = fe.get(path)
            assert_json_error(r, 503, "unavailable")
            assert r.headers.get("Retry-After") == "1", r.headers
    finally:
        fe.stop()


def test_malformed_requests_get_json_400(stack):
    for raw in (b"GARBAGE\r\n\r\n",
                b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /v1/x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000
                + b"\r\n\r\n",
                b"POST /v1/x HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"):
        with socket.create_connection(("127.0.0.1", stack.port), 10) as s:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), (raw[:40], head)
        assert b"Content-Type: application/json" in head, head
        assert b'"error":"bad_request"' in body, body


def test_harness_sees_the_workers(stack):
    if not stack.pool_alive():
        harness.skip("bin/optimist-fcgi is not built")
    pids = stack.wait_workers(4)
    assert stack.pool_pid() not in pids
    assert all(harness.alive(p) for p in pids)


def test_harness_second_frontend_shares_the_database(stack):
    if not stack.pool_alive():
        harness.skip("bin/optimist-fcgi is not built")
    fe = stack.add_frontend(workers=1)
    try:
        assert fe.port != stack.port
        assert fe.get("/healthz").status == 200
        assert fe.wait_workers(1)
        _, token = stack.tenant()
        r = fe.get("/v1/sessions/999999999", token=token)
        assert r.status == 404, r     # the token is known: not 401
    finally:
        fe.stop()
    assert fe.orphans == [], fe.orphans


def test_harness_reaps_workers_of_a_killed_master(stack):
    if not stack.pool_alive():
        harness.skip("bin/optimist-fcgi is not built")
    fe = stack.add_frontend(workers=2)
    try:
        workers = fe.wait_workers(2)
        master = fe.pool_pid()
        os.kill(master, signal.SIGKILL)
        harness.wait_until(lambda: not harness.alive(master), 10,
                           "the master to die")
    finally:
        fe.stop()
    # Whether or not the workers noticed on their own, none is left.
    assert not [p for p in workers if harness.alive(p)]


def test_optimist_conf_joins_an_existing_server(stack):
    """A user's nginx with its own `location /` and a regex location:
    optimist.conf is included as it is, and the API's paths still reach
    the pool (^~ /v1/ wins over the user's regex)."""
    d = tempfile.mkdtemp(prefix="optimist-nginx-")
    port = harness.free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""
%(user)s
daemon on;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %(d)s/body;
    fastcgi_temp_path %(d)s/fastcgi;
    proxy_temp_path %(d)s/proxy;
    scgi_temp_path %(d)s/scgi;
    uwsgi_temp_path %(d)s/uwsgi;
    upstream optimist { server unix:%(sock)s; }
    server {
        listen 127.0.0.1:%(port)d;
        location / { return 200 "the user's site\\n"; }
        location ~ \\.php$ { return 200 "the user's php\\n"; }
        include %(repo)s/nginx/optimist.conf;
    }
}
""" % {"d": d, "port": port, "sock": stack.fcgi_socket,
       "repo": harness.REPO,
       "user": "user root;" if os.getuid() == 0 else ""})
    shutil.copy("/etc/nginx/fastcgi_params", d)
    try:
        r = subprocess.run(["nginx", "-t", "-p", d, "-c", conf],
                                   capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["nginx", "-p", d, "-c", conf],
                                   capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = harness.request("127.0.0.1", port, "GET", "/")
        assert r.status == 200 and r.body == b"the user's site\n", r
        r = harness.request("127.0.0.1", port, "GET", "/v1/x.php")
        assert r.status != 200 and r.body != b"the user's php\n", r
        assert r.headers.get("X-Request-Id"), r.headers
        r = harness.request("127.0.0.1", port, "POST", "/v1/sessions",
                            raw_body=b"x" * (2 << 20))
        assert_json_error(r, 413, "payload_too_large")
    finally:
        try:
            with open(os.path.join(d, "nginx.pid")) as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGTERM)
            harness.wait_until(lambda: not harness.alive(pid), 10,
                               "nginx to stop")
        except (FileNotFoundError, ValueError, ProcessLookupError):
            pass
        shutil.rmtree(d, ignore_errors=True)
