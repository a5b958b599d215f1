"""test_docs.py -- the README and the code agree: every option in the pool's
option table (bin/optimist-fcgi --help, generated from fcgi/core/conf.c) is in
the README's configuration table with the same default, and the README
names no option the pool does not have."""

import os
import re
import subprocess

import harness

NEEDS_STACK = False


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
    # The README's table, and the tables of docs/*.md (an option that
    # belongs to one topic, OPTIMIST_TABLES_DIR say, is documented there).
    docs = os.path.join(harness.REPO, "docs")
    paths = [os.path.join(harness.REPO, "README.md")] + sorted(
        os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))
    text = ""
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text += f.read() + "\n"
    opts = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`(OPTIMIST_[A-Z_]+)`\s*\|\s*([^|]*?)\s*\|", line)
        if m:
            opts[m.group(1)] = m.group(2)
    return opts


def test_every_pool_option_is_in_the_readme_with_its_default():
    pool, readme = pool_options(), readme_options()
    missing = sorted(set(pool) - set(readme))
    assert not missing, "options missing from README.md: %s" % missing
    for name, default in pool.items():
        doc = readme[name].strip("`")
        if default in ('""',):
            # "(none)", or what an empty value means ("the OS user")
            assert doc.startswith("(") or doc.startswith("the "), (name, doc)
        elif default == "2*cores":
            assert "cores" in doc, (name, doc)
        else:
            assert doc == default, "%s: README says %r, the pool %r" % (
                name, doc, default)


def test_readme_names_no_option_the_pool_lacks():
    pool, readme = pool_options(), readme_options()
    # Options read by other programs (optimistctl, the evaluator) may be
    # documented in other tables; this table is the pool's.
    extra = sorted(set(readme) - set(pool))
    assert not extra, "README documents options the pool does not have: %s" % extra
