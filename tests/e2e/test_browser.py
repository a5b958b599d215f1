"""The pages of web/ in a real headless Chromium, each seed scenario as a
person would do it, with screenshots under build/screenshots/.

What is checked is what a person sees and what the server ends up holding
(the notice appears, the dialog shows both values, the server holds the
chosen value, the approval executed once), not how the page learnt it: the
same tests pass whether the page follows the server through the record
feeds (SSE) or, where the server has none, by polling.
"""

import os
import shutil
import signal
import subprocess
import tempfile

import harness
from browser import Browser

# Its own stack: nginx also serves web/; a slow demo evaluator, so that a
# reload can land in the middle of a run.
STACK_OPTIONS = {"workers": 4, "web": True,
                 "env": {"OPTIMIST_DEMO_EVAL_STEPS": "10",
                         "OPTIMIST_DEMO_EVAL_DELAY_MS": "600"}}

_open = []


def browser(stack, token, **kw):
    b = Browser(stack.url, token, **kw)
    _open.append(b)
    return b


def teardown_module(stack):
    while _open:
        try:
            _open.pop().quit()
        except Exception:
            pass


def quit_all():
    teardown_module(None)


def draft(stack, token):
    r = stack.get("/v1/storefront/draft", token=token)
    assert r.status == 200, r
    return r.json()


# -- seed 001: the storefront draft -------------------------------------------

def test_storefront_two_windows_different_fields_merge_silently(stack):
    _, token = stack.tenant()
    a = browser(stack, token).open("storefront.html")
    b = browser(stack, token).open("storefront.html")
    try:
        # B holds an unsaved edit (autosave off) while A saves another field.
        b.click("#autosave")
        b.type("#f-tagline", "Fresh every morning")
        a.type("#f-name", "Bakery A")
        harness.wait_until(lambda: draft(stack, token)["config"].get("name")
                           == "Bakery A", 15, "A's autosave")
        a_version = draft(stack, token)["version"]
        # B is told before it saves.
        b.wait_text("#notice", "Another tab saved version %d" % a_version)
        b.shot("storefront-notice")
        b.click("#save")
        b.wait_text("#saved", "Saved as version %d" % (a_version + 1))
        assert not b.js("return !!document.querySelector('dialog[open]')"), \
            "a dialog opened for edits of different fields"
        d = draft(stack, token)
        assert d["version"] == a_version + 1, d
        assert d["config"] == {"name": "Bakery A",
                               "tagline": "Fresh every morning"}, d
        assert "different fields" in b.text("#notice")
        # A follows B's save without a word from its user.
        a.wait(lambda: a.value("#f-tagline") == "Fresh every morning", 15,
               "A to show B's tagline")
        a.full_shot("storefront")
    finally:
        quit_all()


def test_storefront_same_field_dialog_merge_keeps_the_chosen_value(stack):
    _, token = stack.tenant()
    a = browser(stack, token).open("storefront.html")
    b = browser(stack, token).open("storefront.html")
    try:
        b.click("#autosave")
        b.type("#f-name", "Name from B")
        b.type("#f-announcement", "Closed on Monday")
        a.type("#f-name", "Name from A")
        a.el("#f-currency").send_keys("EUR")
        harness.wait_until(lambda: draft(stack, token)["config"].get("currency")
                           == "EUR" and draft(stack, token)["config"]
                           .get("name") == "Name from A", 15, "A's autosave")
        a_version = draft(stack, token)["version"]
        b.wait_text("#notice", "Another tab saved version")
        b.click("#save")
        # The dialog: one row, the shop name, with both values side by side.
        b.wait(lambda: b.js("return !!document.querySelector('dialog[open]')"),
               15, "the conflict dialog")
        rows = b.els("dialog tbody tr")
        assert len(rows) == 1, [r.text for r in rows]
        assert b.el("dialog tr[data-field=name] td.theirs").text == "Name from A"
        assert b.el("dialog tr[data-field=name] td.mine").text == "Name from B"
        assert "version %d" % a_version in b.text("dialog").lower(), \
            b.text("dialog")
        b.shot("conflict-dialog")
        # The person keeps A's name, field by field, and merges.
        b.click("dialog tr[data-field=name] td.theirs input")
        b.click("#merge")
        b.wait_text("#saved", "Saved as version %d" % (a_version + 1))
        d = draft(stack, token)
        assert d["config"] == {"name": "Name from A", "currency": "EUR",
                               "announcement": "Closed on Monday"}, d
        assert b.value("#f-name") == "Name from A"
        # No edit lost: each side's other field is kept, A's version stays
        # in the history, and A's page follows the merged save.
        a.wait(lambda: a.value("#f-announcement") == "Closed on Monday", 15,
               "A to follow the merged save")
        r = stack.get("/v1/storefront/draft/versions/%d" % a_version,
                      token=token)
        assert r.status == 200 and r.json()["config"]["name"] == \
            "Name from A", r
        b.full_shot("storefront-after-merge")

        # Again, and this time B keeps its own value ("Keep mine").
        b.type("#f-name", "B again")
        a.type("#f-name", "A again")
        harness.wait_until(lambda: draft(stack, token)["config"]["name"]
                           == "A again", 15, "A's autosave")
        b.click("#save")
        b.wait(lambda: b.js("return !!document.querySelector('dialog[open]')"),
               15, "the conflict dialog")
        b.click("#keep-mine")
        b.wait_text("#saved", "Saved as version")
        harness.wait_until(lambda: draft(stack, token)["config"]["name"]
                           == "B again", 15, "B's value on the server")
    finally:
        quit_all()


# -- seed 002: approvals ---------------------------------------------------------

def outbox_events(stack, token, approval_id):
    r = stack.get("/v1/approvals/events?limit=500", token=token)
    assert r.status == 200, r
    return [e for e in r.json()["items"] if e["approval_id"] == approval_id]


def test_approve_double_click_and_second_tab_execute_once(stack):
    from selenium.webdriver.common.action_chains import ActionChains
    _, token = stack.tenant()
    ids = []
    for what in ("refund 20 EUR to order 1042", "delete user 77"):
        r = stack.post("/v1/approvals", {"action": {"type": what}},
                       token=token)
        assert r.status == 201, r
        ids.append(r.json()["id"])
    a = browser(stack, token).open("approvals.html")
    # B does not refresh its queue (?follow=0): it still shows the approval
    # pending when its person clicks, as a tab does between two refreshes.
    b = browser(stack, token).open("approvals.html?follow=0")
    try:
        a.type("#who", "Alice")
        b.type("#who", "Bob")
        a.wait(lambda: len(a.els("#queue li[data-status=pending]")) == 2,
               15, "two pending approvals in A")
        b.wait(lambda: len(b.els("#queue li[data-status=pending]")) == 2,
               15, "two pending approvals in B")
        b.shot("approvals")

        # A person's double click on Approve.
        first = '#queue li[data-id="%d"]' % ids[0]
        ActionChains(a.d).double_click(a.el(first + " .approve")).perform()
        a.wait_text(first, "You approved it")
        # Two clicks that slip past the disabled button (the same tick).
        second = '#queue li[data-id="%d"]' % ids[1]
        a.js("const b = document.querySelector(arguments[0]);"
             "b.click(); b.click();", second + " .approve")
        a.wait_text(second, "You approved it")

        # B still shows it pending; its Approve ends in "already approved by
        # Alice", and executes nothing.
        b.click('#queue li[data-id="%d"] .approve' % ids[0])
        b.wait_text('#queue li[data-id="%d"]' % ids[0], "by Alice")
        b.wait_text("#notice", "Already approved (executed) by Alice")
        b.shot("approvals-loser")

        for i in ids:
            r = stack.get("/v1/approvals/%d" % i, token=token)
            assert r.json()["status"] == "executed", r
            assert r.json()["version"] == 2, r
            assert r.json()["note"] == "Approved by Alice", r
            assert len(outbox_events(stack, token, i)) == 1, \
                outbox_events(stack, token, i)
    finally:
        quit_all()


# -- seed 004: report chat ---------------------------------------------------------

def test_offline_chat_messages_are_appended_once_when_back(stack):
    _, token = stack.tenant()
    r = stack.post("/v1/reports", {"title": "Quarterly"}, token=token)
    rid = r.json()["id"]
    a = browser(stack, token).open("chat.html?id=%d" % rid)
    try:
        a.type("#text", "hello while online")
        a.click("#send-btn")
        a.wait(lambda: len(a.els("#msgs li")) == 1, 15, "the first message")
        a.offline(True)
        texts = ["offline one", "offline two", "offline three"]
        for t in texts:
            a.type("#text", t)
            a.click("#send-btn")
        a.wait(lambda: len(a.els("#queued li")) == 3, 10, "3 queued messages")
        a.wait_text("#net", "offline")
        queued_ids = [e.get_attribute("data-id") for e in a.els("#queued li")]
        a.shot("chat-offline")
        # Nothing reached the server while offline.
        chat = stack.get("/v1/reports/%d/chat" % rid, token=token).json()
        assert chat["length"] == 1, chat
        a.offline(False)
        a.wait(lambda: len(a.els("#msgs li")) == 4 and not a.els("#queued li"),
               30, "the queued messages to be sent")
        chat = stack.get("/v1/reports/%d/chat" % rid, token=token).json()
        got = [m["content"] for m in chat["messages"]]
        assert got == ["hello while online"] + texts, got
        assert [m["id"] for m in chat["messages"][1:]] == queued_ids
        # Once: a reload (the outbox is empty) adds nothing.
        a.open("chat.html?id=%d" % rid)
        a.wait(lambda: len(a.els("#msgs li")) == 4, 15, "4 messages")
        assert stack.get("/v1/reports/%d/chat" % rid,
                         token=token).json()["length"] == 4
        a.shot("chat")
    finally:
        quit_all()


# -- seed 003: bids and evaluations ------------------------------------------------

def test_evaluation_resumes_after_a_reload(stack):
    _, token = stack.tenant()
    r = stack.post("/v1/bids", {"data": {"title": "Roof repair",
                                         "amount": 12000}}, token=token)
    bid = r.json()["id"]
    a = browser(stack, token).open("bid.html?id=%d" % bid)
    try:
        a.click("#evaluate")
        a.wait_text("#eval-status", "step 2 of 10", 20)
        a.shot("bid-evaluating")
        a.d.refresh()
        a.wait(lambda: a.js("return document.body.dataset.ready"), 20,
               "the reloaded page")
        # The reloaded page shows the run still going, then its outcome.
        a.wait_text("#eval-status", "Evaluating", 10)
        assert a.text("#status") == "evaluating", a.text("#status")
        a.shot("bid-resumed")
        a.wait_text("#eval-outcome", "Decided: score", 30)
        b = stack.get("/v1/bids/%d" % bid, token=token).json()
        assert b["status"] == "decided", b
        assert ("score %d" % b["evaluation"]["score"]) in a.text("#eval-outcome")
        runs = stack.get("/v1/bids/%d/evaluations" % bid,
                         token=token).json()["items"]
        assert [x["outcome"] for x in runs] == ["applied"], runs
        a.wait(lambda: a.text("#status") == "decided", 15, "status decided")
        a.full_shot("bid")
    finally:
        quit_all()


def test_an_edit_during_an_evaluation_supersedes_it_and_says_why(stack):
    _, token = stack.tenant()
    r = stack.post("/v1/bids", {"data": {"title": "Fence", "amount": 900}},
                   token=token)
    bid = r.json()["id"]
    a = browser(stack, token).open("bid.html?id=%d" % bid)
    try:
        a.click("#evaluate")
        a.wait_text("#eval-status", "step 1 of 10", 20)
        a.type("#f-notes", "Add a gate")
        a.click("#save")
        a.wait_text("#saved", "Saved as version", 15)
        a.wait_text("#eval-outcome", "Superseded", 30)
        assert "never overwrites your edit" in a.text("#eval-outcome")
        b = stack.get("/v1/bids/%d" % bid, token=token).json()
        assert b["status"] == "open" and b["data"]["notes"] == "Add a gate", b
        runs = stack.get("/v1/bids/%d/evaluations" % bid,
                         token=token).json()["items"]
        assert [x["outcome"] for x in runs] == ["superseded"], runs
        a.wait(lambda: a.els('#runs li[data-outcome="superseded"]'), 10,
               "the superseded run in the list")
        a.full_shot("bid-superseded")
    finally:
        quit_all()


# -- seed 000: an agent session in two tabs -----------------------------------------

def test_session_stale_send_shows_the_other_message_and_resends_on_top(stack):
    _, token = stack.tenant()
    r = stack.post("/v1/sessions", {"title": "Planning"}, token=token)
    sid = r.json()["id"]
    # B does not follow other tabs (?follow=0): it stays on version 1, as a
    # tab does between two polls, so its send is stale for certain.
    a = browser(stack, token).open("session.html?id=%d" % sid)
    b = browser(stack, token).open("session.html?id=%d&follow=0" % sid)
    try:
        a.type("#text", "First, from A")
        a.click("#send-btn")
        a.wait(lambda: len(a.els("#msgs li")) == 1, 15, "A's message")
        b.type("#text", "Then B")
        b.click("#send-btn")
        b.wait_text("#notice", "Another tab added 1 message")
        assert "First, from A" in b.text("#notice")
        b.wait(lambda: len(b.els("#msgs li")) == 2, 15, "both messages in B")
        s = stack.get("/v1/sessions/%d" % sid, token=token).json()
        assert [m["content"] for m in s["messages"]] == \
            ["First, from A", "Then B"], s
        assert s["version"] == 3, s
        a.wait(lambda: len(a.els("#msgs li")) == 2, 15, "A to follow B")
        b.shot("session")
    finally:
        quit_all()


# -- every page, as a phone shows it ----------------------------------------------

def test_pages_load_on_a_phone_sized_screen(stack):
    _, token = stack.tenant()
    a = browser(stack, token, width=390, height=844)
    try:
        a.open("")        # / is the index page, as HTML
        r = stack.get("/")
        assert r.status == 200 and r.headers["Content-Type"].startswith(
            "text/html"), r
        assert a.d.title == "optimist · pages", a.d.title
        a.shot("index-phone")
        for page in ("storefront", "session", "bid", "approvals", "chat"):
            a.open(page + ".html")
            # Nothing wider than the screen: no sideways scrolling.
            over = a.js("return document.documentElement.scrollWidth - "
                        "document.documentElement.clientWidth")
            assert over <= 0, "%s is %dpx too wide" % (page, over)
            # Every control has a name a screen reader can say.
            unnamed = a.js(
                "return [...document.querySelectorAll('input, select, "
                "textarea, button')].filter(e => !(e.labels && "
                "e.labels.length) && !e.getAttribute('aria-label') && "
                "!e.textContent.trim()).map(e => e.outerHTML)")
            assert not unnamed, "%s: controls without a name: %s" % (
                page, unnamed)
            a.full_shot(page + "-phone")
        # The module is served as JavaScript (an ES module needs it).
        r = stack.get("/optimist.js")
        assert r.status == 200, r
        assert r.headers["Content-Type"].startswith("text/javascript"), \
            r.headers["Content-Type"]
        assert stack.get("/nope.html").status == 404
        assert stack.get("/v1/../web/optimist.js").status == 404
    finally:
        quit_all()


# -- a page on another origin ---------------------------------------------------------

def _cors_conf(d, origin):
    """nginx/optimist.conf with its CORS includes uncommented, and
    optimist-cors.conf next to nginx.conf in d, for origin."""
    with open(os.path.join(harness.REPO, "nginx", "optimist.conf")) as f:
        text = f.read()
    n = text.count("#include optimist-cors.conf;")
    assert n == 3, "optimist.conf has %d CORS includes, not 3" % n
    with open(os.path.join(d, "optimist.conf"), "w") as f:
        f.write(text.replace("#include optimist-cors.conf;",
                             "include optimist-cors.conf;"))
    with open(os.path.join(harness.REPO, "nginx", "optimist-cors.conf")) as f:
        cors = f.read()
    assert cors.count("https://app.example.com") == 2, cors
    with open(os.path.join(d, "optimist-cors.conf"), "w") as f:
        f.write(cors.replace("https://app.example.com", origin))


def test_a_page_on_another_origin_uses_the_api_through_the_cors_block(stack):
    _, token = stack.tenant()
    d = tempfile.mkdtemp(prefix="optimist-cors-")
    web_port, api_port = harness.free_port(), harness.free_port()
    origin = "http://127.0.0.1:%d" % web_port
    _cors_conf(d, origin)
    shutil.copy("/etc/nginx/fastcgi_params", d)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""%(user)s
worker_processes 1;
daemon on;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 64; }
http {
    types { }
    default_type application/json;
    access_log off;
    client_body_temp_path %(d)s/body;
    fastcgi_temp_path %(d)s/fastcgi;
    proxy_temp_path %(d)s/proxy;
    scgi_temp_path %(d)s/scgi;
    uwsgi_temp_path %(d)s/uwsgi;
    upstream optimist { server unix:%(sock)s; }
    server {
        listen 127.0.0.1:%(api)d;
        include %(d)s/optimist.conf;
        include %(repo)s/nginx/optimist-fallback.conf;
    }
    server {
        listen 127.0.0.1:%(web)d;
        root %(repo)s/web;
        # The install-time setting that lets the pages use the API's
        # origin (web/config.js).
        location = /config.js {
            types { } default_type application/javascript;
            return 200 'export const API_ORIGINS = ["http://127.0.0.1:%(api)d"];';
        }
        include %(repo)s/nginx/optimist-web.conf;
        include %(repo)s/nginx/optimist-fallback.conf;
    }
}
""" % {"d": d, "api": api_port, "web": web_port, "sock": stack.fcgi_socket,
       "repo": harness.REPO,
       "user": "user root;" if os.getuid() == 0 else ""})
    pid = None
    try:
        r = subprocess.run(["nginx", "-p", d, "-c", conf],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        pid = harness.wait_until(lambda: _pid(d), 10, "the CORS nginx")
        # The preflight a browser sends before a write with our headers.
        r = harness.request("127.0.0.1", api_port, "OPTIONS",
                            "/v1/storefront/draft", headers={
                                "Origin": origin,
                                "Access-Control-Request-Method": "PUT"})
        assert r.status == 204, r
        assert r.headers["Access-Control-Allow-Origin"] == origin
        assert "Idempotency-Key" in r.headers["Access-Control-Allow-Headers"]
        # The same for the stream locations nested in /v1/ (an `if` is not
        # passed down to them).
        for method, path in (("POST", "/v1/bids/1/evaluate"),
                             ("GET", "/v1/bids/1/events"),
                             ("GET", "/v1/evaluations/1/events")):
            r = harness.request("127.0.0.1", api_port, "OPTIONS", path,
                                headers={"Origin": origin,
                                         "Access-Control-Request-Method":
                                             method})
            assert r.status == 204, (path, r)
            assert r.headers["Access-Control-Allow-Origin"] == origin, path
        # An answer of a stream location keeps its X-Request-Id and gets
        # the CORS headers.
        r = harness.request("127.0.0.1", api_port, "GET", "/v1/bids/1/events",
                            headers={"Origin": origin})
        assert r.headers.get("Access-Control-Allow-Origin") == origin, r
        assert r.headers.get("X-Request-Id"), r
        a = browser(stack, None)
        a.base = origin
        a.open("storefront.html#token=%s&api=http://127.0.0.1:%d"
               % (token, api_port))
        a.type("#f-name", "Sold from another origin")
        harness.wait_until(lambda: draft(stack, token)["config"] == {
            "name": "Sold from another origin"}, 15, "the autosave")
        v = draft(stack, token)["version"]
        a.wait_text("#saved", "Saved as version %d" % v)
        assert a.text("#state").startswith("Version %d" % v)
        # And it follows another client's save across the origins too.
        r = stack.put("/v1/storefront/draft", {
            "version": v, "config": {"name": "Renamed elsewhere"}},
            token=token)
        assert r.status == 200, r
        a.wait(lambda: a.value("#f-name") == "Renamed elsewhere", 15,
               "the page to follow the other save")
    finally:
        quit_all()
        if pid:
            os.kill(pid, signal.SIGTERM)
            harness.wait_until(lambda: not harness.alive(pid), 10,
                               "the CORS nginx to stop")
        shutil.rmtree(d, ignore_errors=True)


def _pid(d):
    try:
        with open(os.path.join(d, "nginx.pid")) as f:
            pid = int(f.read())
    except (FileNotFoundError, ValueError):
        return None
    return pid if harness.alive(pid) else None


def test_storefront_publish_discard_and_restore(stack):
    _, token = stack.tenant()
    a = browser(stack, token).open("storefront.html")
    try:
        a.type("#f-name", "Published name")
        harness.wait_until(lambda: draft(stack, token)["config"].get("name")
                           == "Published name", 15, "the autosave")
        v = draft(stack, token)["version"]
        a.wait_text("#saved", "Saved as version %d" % v)
        a.click("#publish")
        a.wait_text("#published", "Published: version %d" % v)
        r = stack.get("/v1/storefront", token=token).json()
        assert r["published"]["draft_version"] == v, r
        a.type("#f-name", "Draft only")
        a.type("#f-tagline", "not for long")
        a.wait(lambda: draft(stack, token)["config"].get("tagline")
               == "not for long", 15, "the autosave")
        a.click("#discard")
        a.wait_text("#notice", "back to the published config")
        assert a.value("#f-name") == "Published name"
        assert a.value("#f-tagline") == ""
        d = draft(stack, token)
        assert d["config"] == {"name": "Published name"}, d
        # The discarded version is still in the history: restore it.
        lost = d["version"] - 1
        a.wait(lambda: a.els('#history button[data-version="%d"]' % lost),
               15, "version %d in the history" % lost)
        a.click('#history button[data-version="%d"]' % lost)
        a.wait_text("#notice", "Version %d restored" % lost)
        d = draft(stack, token)
        assert d["config"] == {"name": "Draft only",
                               "tagline": "not for long"}, d
        assert a.value("#f-tagline") == "not for long"
        a.full_shot("storefront-restored")
    finally:
        quit_all()


def test_conflict_dialog_on_a_phone_by_keyboard_take_theirs(stack):
    _, token = stack.tenant()
    a = browser(stack, token, width=390, height=844).open("storefront.html")
    try:
        a.click("#autosave")
        a.type("#f-name", "Typed on the phone")
        a.type("#f-announcement", "Open on Sunday")
        r = stack.put("/v1/storefront/draft",
                      {"version": 1, "config": {"name": "Set on the laptop"}},
                      token=token)
        assert r.status == 200, r
        a.click("#save")
        a.wait(lambda: a.js("return !!document.querySelector('dialog[open]')"),
               15, "the conflict dialog")
        over = a.js("const d = document.querySelector('dialog');"
                    "return d.scrollWidth - d.clientWidth")
        assert over <= 0, "the dialog is %dpx too wide" % over
        a.shot("conflict-dialog-phone")
        # The keyboard starts in the dialog, and Escape does not leave the
        # save undecided.
        assert a.js("return document.activeElement.id") == "merge"
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys
        ActionChains(a.d).send_keys(Keys.ESCAPE).perform()
        assert a.js("return document.querySelector('dialog').open")
        # Shift+Tab twice: Merge -> Keep mine -> Take theirs; Enter.
        ActionChains(a.d).key_down(Keys.SHIFT).send_keys(Keys.TAB) \
            .send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        assert a.js("return document.activeElement.id") == "take-theirs"
        ActionChains(a.d).send_keys(Keys.ENTER).perform()
        a.wait_text("#saved", "Saved as version 3")
        d = draft(stack, token)
        assert d["config"] == {"name": "Set on the laptop",
                               "announcement": "Open on Sunday"}, d
    finally:
        quit_all()
