"""make docs (scripts/docs.py): the committed docs/TRANSPORTS.md and
README.md equal what it would write now (captures from the server just built, figures
from results/reference/), writing twice changes nothing, the marker
machinery refuses unknown and unused names, and the figure helpers
(reportlib/cite.py) word a comparison only where the ranges part."""

import difflib
import os
import shutil
import subprocess
import sys
import tempfile

from harness import BIN, Tap, check, check_eq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import docs  # noqa: E402
from reportlib import cite  # noqa: E402
from reportlib.stats import Cell  # noqa: E402

_tmp = tempfile.mkdtemp(prefix="pp-docs-")
state = {}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def generate(name):
    """{relative path: text} as docs.py writes them into a fresh folder."""
    out = os.path.join(_tmp, name)
    p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "docs.py"), "--output", out],
                       env=dict(os.environ, PUSHPULL_BIN=BIN), capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "docs.py exited %d: %s" % (p.returncode, p.stderr.strip()))
    return {rel: read(os.path.join(out, rel)) for rel in docs.FILES}


def t_guide_is_generated():
    fresh = state["first"] = generate("once")
    for rel, text in fresh.items():
        diff = "".join(difflib.unified_diff(read(os.path.join(ROOT, rel)).splitlines(True), text.splitlines(True),
                                            rel + " (committed)", "make docs (now)", n=1))
        check(not diff, "%s differs from what make docs writes; run make docs and commit:\n%s" % (rel, diff[:3000]))


def t_twice_same():
    first = state.get("first") or generate("once")
    check_eq(generate("twice"), first, "two runs of docs.py")


def t_markers():
    text = "a\n<!-- generated:x -->\nold\n<!-- /generated -->\nb\n"
    check_eq(docs.fill_all({"f": text}, {"x": "new"}),
             {"f": "a\n<!-- generated:x -->\nnew\n<!-- /generated -->\nb\n"}, "filled")
    for blocks, what in (({}, "no generated block"), ({"x": "", "y": ""}, "for: y")):
        try:
            docs.fill_all({"f": text}, blocks)
        except docs.DocsError as e:
            check(what in str(e), "error %r lacks %r" % (str(e), what))
        else:
            check(False, "fill accepted %r" % sorted(blocks))


class FakeRun:
    def __init__(self, n, p50):
        self.n, self.repeat, self.ok, self.p50 = n, n, True, p50

    def lat_ms(self, field):
        return self.p50


def t_versus():
    apart = (Cell("sse", [FakeRun(1, 1.0), FakeRun(2, 1.1)]), Cell("ws", [FakeRun(3, 2.0), FakeRun(4, 2.2)]))
    overlap = (Cell("sse", [FakeRun(1, 1.0), FakeRun(2, 2.1)]), Cell("ws", [FakeRun(3, 2.0), FakeRun(4, 2.2)]))
    once = (Cell("sse", [FakeRun(1, 1.0)]), Cell("ws", [FakeRun(3, 2.0)]))
    check("SSE lower" in cite.versus(*apart, "p50"), cite.versus(*apart, "p50"))
    check("no difference measurable" in cite.versus(*overlap, "p50"), cite.versus(*overlap, "p50"))
    check("no ranking claimed" in cite.versus(*once, "p50"), cite.versus(*once, "p50"))


def main():
    tap = Tap(__file__, watchdog_s=180)
    tap.run("docs: the marker machinery fills known names, refuses unknown and unused ones", t_markers)
    tap.run("docs: cite.versus claims a difference only where the ranges lie apart", t_versus)
    tap.run("docs: docs/TRANSPORTS.md and README.md equal what make docs writes now", t_guide_is_generated)
    tap.run("docs: make docs is idempotent (two runs write the same guide)", t_twice_same)
    shutil.rmtree(_tmp, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
