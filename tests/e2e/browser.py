"""browser.py -- a headless Chromium for the browser tests (test_browser.py),
driven by Selenium (Debian's chromium, chromium-driver, python3-selenium).

    b = Browser(stack.url, token)      # a window of its own (own profile)
    b.open("storefront.html")          # waits for the page to say it is ready
    b.type("#f-name", "Shop A"); b.text("#notice"); b.shot("storefront")
    b.quit()

Each Browser is a separate Chromium with a new empty profile: two of them
are two people (or two tabs that share nothing but the server).
"""

import os
import sys
import tempfile
import shutil
import time

try:
    import selenium  # noqa: F401
except ImportError:   # a python3 of its own (pyenv, venv): Debian's package
    sys.path.append("/usr/lib/python3/dist-packages")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

import harness  # noqa: E402

# Always build/screenshots (whichever build the tests run on): where a
# reviewer looks for them.
SHOTS = os.path.join(harness.REPO, "build", "screenshots")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]


def _find(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    raise harness.HarnessError("none of %s is installed (scripts/deps.sh "
                               "installs chromium and chromium-driver)"
                               % (names,))


class Browser:
    def __init__(self, base_url, token=None, width=1100, height=1000):
        self.base = base_url.rstrip("/")
        self.token = token
        self.profile = tempfile.mkdtemp(prefix="optimist-chromium-")
        opts = webdriver.ChromeOptions()
        for f in FLAGS:
            opts.add_argument(f)
        opts.add_argument("--user-data-dir=" + self.profile)
        opts.add_argument("--window-size=%d,%d" % (width, height))
        opts.binary_location = _find("chromium", "chromium-browser")
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(_find("chromedriver"))
        try:
            self.d = webdriver.Chrome(service=service, options=opts)
        except Exception:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.d.set_script_timeout(30)
        # A window narrower than Chromium allows (500 px): a phone's screen.
        self.phone = (width, height) if width < 500 else None
        if self.phone:
            self._metrics(width, height)

    def _metrics(self, width, height):
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1,
            "mobile": True})

    def open(self, page, ready=True):
        """Loads base/page (with #token= the first time), waits until the
        page says it is ready (body[data-ready])."""
        url = "%s/%s" % (self.base, page)
        if self.token:
            url += "#token=" + self.token
            self.token = None
        self.d.get(url)
        if ready:
            self.wait(lambda: self.d.execute_script(
                "return document.body.dataset.ready || "
                "(document.querySelector('.notice.bad') || {}).textContent"),
                20, "the page %s to be ready" % page)
            bad = self.d.execute_script(
                "return document.body.dataset.ready ? null : "
                "document.querySelector('.notice.bad').textContent")
            assert not bad, "the page %s failed: %s" % (page, bad)
        return self

    def wait(self, cond, timeout=15, what="condition"):
        try:
            return harness.wait_until(cond, timeout, what, interval=0.1)
        except harness.HarnessError:
            self.shot("FAILED-" + what[:40].replace(" ", "_")
                      .replace("/", "_"))
            raise harness.HarnessError("timed out after %ss waiting for %s; "
                                       "console:\n%s" % (timeout, what,
                                                         self.console()))

    def el(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def els(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        """The element's rendered text ("" when there is none); read in
        the page, so a redraw between finding and reading cannot fail it."""
        return self.js("const e = document.querySelector(arguments[0]);"
                       "return e ? e.innerText : '';", css)

    def wait_text(self, css, needle, timeout=15):
        """Waits until the element's text contains needle; returns it."""
        return self.wait(lambda: needle in self.text(css) and self.text(css),
                         timeout, "%r in %s" % (needle, css))

    def value(self, css):
        return self.js("const e = document.querySelector(arguments[0]);"
                       "return e ? e.value : null;", css)

    def type(self, css, text, clear=True):
        e = self.el(css)
        if clear:
            e.clear()
        e.send_keys(text)
        return e

    def click(self, css):
        self.el(css).click()

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def shot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        path = os.path.join(SHOTS, name + ".png")
        try:
            self.d.save_screenshot(path)
        except Exception as e:   # a screenshot never fails a test
            sys.stderr.write("screenshot %s: %s\n" % (name, e))
        return path

    def full_shot(self, name):
        """A screenshot of the whole page, as tall as its content."""
        h = self.js("return Math.max(document.documentElement.scrollHeight,"
                    " document.body.scrollHeight)")
        if self.phone:
            self._metrics(self.phone[0], min(max(h, 600), 3000))
            try:
                return self.shot(name)
            finally:
                self._metrics(*self.phone)
        w = self.js("return window.outerWidth")
        size = self.d.get_window_size()
        self.d.set_window_size(w, min(max(h + 140, 600), 3000))
        try:
            return self.shot(name)
        finally:
            self.d.set_window_size(size["width"], size["height"])

    def offline(self, off=True):
        """The network as Chrome's DevTools' "Offline" sets it."""
        self.d.set_network_conditions(offline=off, latency=0,
                                      download_throughput=-1,
                                      upload_throughput=-1)

    def console(self):
        try:
            return "\n".join("%s %s" % (e["level"], e["message"])
                             for e in self.d.get_log("browser"))
        except Exception:
            return "(no console log)"

    def quit(self):
        try:
            self.d.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
