"""test_stream_queue.py -- a client that does not read costs the hub a
bounded buffer, not a copy of every document: 30 FastCGI streams (straight
to the pool's socket, so no nginx buffers hide anything) that never read,
on a session of several MB that changes twice, grow the hub by far less
than one copy of the session each; a reading stream still gets the newest
version (the versions in between folded)."""

import os
import socket
import struct

import harness

STACK_OPTIONS = {"workers": 2}
N_SILENT = 30
MESSAGE = 900 * 1000
MESSAGES = 7


def _open_stream(sock_path, path, token, rcvbuf=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(sock_path)
    params = harness.fcgi_params({
                      "REQUEST_METHOD": "GET", "REQUEST_URI": path,
                      "DOCUMENT_URI": path, "QUERY_STRING": "",
                      "HTTP_ACCEPT": "text/event-stream",
                      "HTTP_AUTHORIZATION": "Bearer " + token,
                      "CONTENT_LENGTH": "0", "REQUEST_ID": os.urandom(8).hex()})
    rec = harness.fcgi_record
    s.sendall(rec(1, 1, struct.pack(">HB5x", 1, 0)) + rec(4, 1, params) +
              rec(4, 1, b"") + rec(5, 1, b""))
    return s


def _read_until(s, version):
    """Reads the stream until the event of `version`, then closes it."""
    s.settimeout(30)
    got, want = b"", b"id: %d\n" % version
    try:
        while want not in got[-(1 << 20):]:
            chunk = s.recv(1 << 20)
            assert chunk, got[-300:]
            got += chunk
    finally:
        s.close()


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_silent_streams_cost_a_bounded_buffer(stack):
    _, tok = stack.tenant()
    r = stack.post("/v1/sessions", {"title": "big"}, token=tok)
    assert r.status == 201, r
    sid, v = r.json()["id"], r.json()["version"]
    for i in range(MESSAGES):
        r = stack.post("/v1/sessions/%d/messages" % sid, {
            "version": v, "message": {"role": "user",
                                      "content": "%d" % i * MESSAGE}},
            token=tok)
        assert r.status == 200, r
        v = r.json()["version"]
    hub = stack.main.hub_pid()
    path = "/v1/sessions/%d/events" % sid
    # Once read whole first: what loading the document costs the hub (and
    # its allocator keeps) is in the baseline.
    mark = stack.main.log_mark()
    _read_until(_open_stream(stack.main.fcgi_socket, path, tok), v)
    stack.main.wait_log("stream closed after", since=mark)
    # Counted after the first stream: the hub's database threads open
    # their connections on first use, and those stay.
    fds0 = _fds(hub)
    rss0 = _rss_kb(hub)
    silent = [_open_stream(stack.main.fcgi_socket, path, tok, rcvbuf=4096)
              for _ in range(N_SILENT)]
    try:
        harness.wait_until(lambda: _fds(hub) >= fds0 + N_SILENT, 20,
                           "the hub to hold the silent streams")
        # Two more versions while nobody reads.
        for i in range(2):
            r = stack.post("/v1/sessions/%d/messages" % sid, {
                "version": v, "message": {"role": "user", "content": "x"}},
                token=tok)
            assert r.status == 200, r
            v = r.json()["version"]
        # A reader gets the newest version: the hub has passed it to every
        # connection of the session by then (one loop over them).
        _read_until(_open_stream(stack.main.fcgi_socket, path, tok), v)
        grown_mb = (_rss_kb(hub) - rss0) / 1024
        doc_mb = MESSAGES * MESSAGE / 1e6
        # One copy per silent client would be N_SILENT * doc_mb (~190 MB);
        # bounded buffers and one shared copy per version in flight: a few.
        print("hub grew by %.1f MB for %d silent streams on a %.1f MB "
              "document" % (grown_mb, N_SILENT, doc_mb))
        # Under ASan the allocator's quarantine keeps freed memory resident
        # (256 MB by default): RSS measures the sanitizer there, not us.
        if os.environ.get("SAN") != "1":
            assert grown_mb < 5 * doc_mb, (grown_mb, doc_mb)
    finally:
        for s in silent:
            s.close()
