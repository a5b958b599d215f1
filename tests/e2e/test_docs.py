"""test_docs.py -- the docs and the code agree: every option in the pool's
option table (bin/optimist-fcgi --help, generated from fcgi/core/conf.c) is in
the configuration table of docs/operations.md with the same default, and that
table names no option the pool does not have. (optimist.conf(5) is generated
from the same table: tests/e2e/test_install.py checks it is installed.)"""

import os
import re
import subprocess

import harness

NEEDS_STACK = False

# The file that holds the configuration table.
DOC = os.path.join("docs", "operations.md")


def pool_options():
    r = subprocess.run([os.path.join(harness.BIN, "optimist-fcgi"), "--help"],
                       capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    opts = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s+(OPTIMIST_[A-Z_]+)\s+(\S+)", line)
        if m:
            opts[m.group(1)] = m.group(2)
    assert len(opts) >= 13, r.stdout
    return opts


def readme_options():
    with open(os.path.join(harness.REPO, DOC), encoding="utf-8") as f:
        text = f.read()
    opts = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`(OPTIMIST_[A-Z_]+)`\s*\|\s*([^|]*?)\s*\|", line)
        if m:
            opts[m.group(1)] = m.group(2)
    return opts


def test_every_pool_option_is_in_the_readme_with_its_default():
    pool, readme = pool_options(), readme_options()
    missing = sorted(set(pool) - set(readme))
    assert not missing, "options missing from %s: %s" % (DOC, missing)
    for name, default in pool.items():
        doc = readme[name].strip("`")
        if default in ('""',):
            # "(none)", or what an empty value means ("the OS user")
            assert doc.startswith("(") or doc.startswith("the "), (name, doc)
        elif default == "2*cores":
            assert "cores" in doc, (name, doc)
        else:
            assert doc == default, "%s: %s says %r, the pool %r" % (
                name, DOC, doc, default)


def test_readme_names_no_option_the_pool_lacks():
    pool, readme = pool_options(), readme_options()
    # Options read by other programs (optimistctl, the evaluator) may be
    # documented in other tables; this table is the pool's.
    extra = sorted(set(readme) - set(pool))
    assert not extra, "%s documents options the pool does not have: %s" % (DOC, extra)


def test_every_makefile_target_that_names_no_file_is_phony():
    with open(os.path.join(harness.REPO, "Makefile"), encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    phony = set()
    for m in re.finditer(r"^\.PHONY:(.*)$", text, re.M):
        phony.update(m.group(1).split())
    targets = set()
    for m in re.finditer(r"^([a-z][a-z0-9 -]*):(?!=)", text, re.M):
        targets.update(m.group(1).split())
    missing = sorted(targets - phony)
    assert not missing, "targets missing from .PHONY: %s" % missing
    assert len(targets) >= 25, sorted(targets)
