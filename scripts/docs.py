#!/usr/bin/python3
"""Regenerate the generated parts of docs/TRANSPORTS.md (make docs).

    PUSHPULL_BIN=bin /usr/bin/python3 scripts/docs.py [--output FILE]

The guide (and README.md) mark each generated part

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

FILES = ("docs/TRANSPORTS.md", "README.md")      # the files with generated parts
MARKED = re.compile(r"(<!-- generated:([a-z0-9-]+) -->\n)(.*?)(<!-- /generated -->)", re.S)


class DocsError(Exception):
    pass


def fill(text, blocks, used, where="docs/TRANSPORTS.md"):
    """The text with every marked part replaced by its block; the names
    filled are added to the set used."""
    def one(m):
        name = m.group(2)
        if name not in blocks:
            raise DocsError("%s: <!-- generated:%s --> names no generated block" % (where, name))
        used.add(name)
        return m.group(1) + blocks[name].rstrip("\n") + "\n" + m.group(4)
    return MARKED.sub(one, text)


def fill_all(texts, blocks):
    """{path: text} -> {path: filled text}; every block must be used somewhere."""
    used = set()
    out = {path: fill(text, blocks, used, path) for path, text in texts.items()}
    unused = sorted(set(blocks) - used)
    if unused:
        raise DocsError("no marker in %s for: %s" % (" or ".join(texts), ", ".join(unused)))
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
    ap = argparse.ArgumentParser(description="Regenerate the generated parts of %s." % " and ".join(FILES))
    ap.add_argument("--output", metavar="DIR", help="write the files under DIR (same relative paths) "
                    "instead of rewriting them")
    a = ap.parse_args(argv[1:])
    binary = os.path.join(os.environ.get("PUSHPULL_BIN", os.path.join(REPO, "bin")), "pushpull-server")
    try:
        old = {}
        for rel in FILES:
            with open(os.path.join(REPO, rel), encoding="utf-8") as f:
                old[rel] = f.read()
        new = fill_all(old, all_blocks(binary))
    except (DocsError, FolderError, capture.CaptureError, OSError) as e:
        print("docs.py: %s" % e, file=sys.stderr)
        return 2
    for rel in FILES:
        out = os.path.join(a.output or REPO, rel)
        changed = a.output or new[rel] != old[rel]
        if changed:
            os.makedirs(os.path.dirname(out), exist_ok=True)
            write(out, new[rel])
        print("%s %s" % ("wrote" if changed else "unchanged:", out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
