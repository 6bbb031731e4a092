#!/usr/bin/python3
"""Regenerate the generated parts of docs/TRANSPORTS.md (make docs).

    PUSHPULL_BIN=bin /usr/bin/python3 scripts/docs.py [--output FILE]

The guide marks each generated part

    <!-- generated:NAME -->
    ...
    <!-- /generated -->

and this script rewrites what lies between: traffic captured from the
server just built (scripts/traffic.py; volatile values normalised, so the
text is reproducible) and figures rendered from the committed results
folders (scripts/reportlib/guide.py). Everything else in the guide is left
as it is. A name the guide uses that nothing generates is an error, and so
is a generated block the guide does not use. --output writes the result
elsewhere (the test compares it with the committed guide); without it the
guide is rewritten in place, and only when something changed.

Exit status: 0 written (or unchanged), 2 an error (named on stderr).
Python 3 standard library only.
"""

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import capture  # noqa: E402
import traffic  # noqa: E402
from reportlib import guide  # noqa: E402
from reportlib.load import FolderError  # noqa: E402

GUIDE = os.path.join(REPO, "docs", "TRANSPORTS.md")
MARKED = re.compile(r"(<!-- generated:([a-z0-9-]+) -->\n)(.*?)(<!-- /generated -->)", re.S)


class DocsError(Exception):
    pass


def fill(text, blocks):
    """The guide with every marked part replaced by its block."""
    used = set()

    def one(m):
        name = m.group(2)
        if name not in blocks:
            raise DocsError("docs/TRANSPORTS.md: <!-- generated:%s --> names no generated block" % name)
        used.add(name)
        return m.group(1) + blocks[name].rstrip("\n") + "\n" + m.group(4)
    out = MARKED.sub(one, text)
    unused = sorted(set(blocks) - used)
    if unused:
        raise DocsError("docs/TRANSPORTS.md has no marker for: %s" % ", ".join(unused))
    return out


def all_blocks(binary):
    blocks = traffic.capture_all(binary)
    blocks.update(guide.blocks(REPO))
    return blocks


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description="Regenerate docs/TRANSPORTS.md's generated parts.")
    ap.add_argument("--output", help="write here instead of rewriting the guide")
    a = ap.parse_args(argv[1:])
    binary = os.path.join(os.environ.get("PUSHPULL_BIN", os.path.join(REPO, "bin")), "pushpull-server")
    try:
        with open(GUIDE, encoding="utf-8") as f:
            old = f.read()
        new = fill(old, all_blocks(binary))
    except (DocsError, FolderError, capture.CaptureError, OSError) as e:
        print("docs.py: %s" % e, file=sys.stderr)
        return 2
    out = a.output or GUIDE
    if a.output or new != old:
        write(out, new)
    print("%s %s" % ("wrote" if a.output or new != old else "unchanged:", os.path.relpath(out, REPO)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
