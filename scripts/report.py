#!/usr/bin/python3
"""Render a results folder (docs/RESULTS-FORMAT.md) as report.md + charts.

    /usr/bin/python3 scripts/report.py RESULTS_DIR

Reads RESULTS_DIR/manifest.json and RESULTS_DIR/runs.jsonl (histogram
buckets from each run's "result", or from client/<n>.json when the result
has none) and writes RESULTS_DIR/report.md and RESULTS_DIR/chart-*.svg
(drawn by gnuplot's svg terminal). Nothing is re-run: the folder alone is
enough. The work is in scripts/reportlib/, one module per concern: load
(the folder), stats (repetitions), model (and its flags), sentences, tables,
charts, servers; facts computes every figure, flag and sentence before
tables and charts write any text.

Exit status: 0 written (a chart that could not be drawn is said so in the
report and on stderr), 2 the folder cannot be read (the message names the
file and line). Python 3 standard library only.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reportlib import charts, servers, tables  # noqa: E402
from reportlib.facts import Facts  # noqa: E402
from reportlib.load import FolderError  # noqa: E402


def which_when(f):
    body = " ".join(f.sentences) or \
        "This folder has too few successful runs of comparable settings to compare transports."
    return "## Which transport when\n\n" + body


def render(f):
    """Write report.md (and the charts) from the facts; returns the text."""
    for name in os.listdir(f.folder):
        if name.startswith("chart-") and name.endswith(".svg"):
            os.unlink(os.path.join(f.folder, name))
    parts = [tables.header(f), tables.how_to_read(f), servers.render(f.all_runs, f.manifest), tables.headline(f),
             which_when(f), tables.model_section(f), tables.saturation_section(f), tables.tls_section(f),
             tables.broker_section(f), charts.chart_sections(f), tables.every_run(f)]
    text = "\n\n".join(p.rstrip("\n") for p in parts if p) + "\n"
    tmp = os.path.join(f.folder, ".report.md.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, os.path.join(f.folder, "report.md"))
    return text


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print("usage: report.py RESULTS_DIR\n  writes RESULTS_DIR/report.md and RESULTS_DIR/chart-*.svg "
              "from manifest.json and runs.jsonl (docs/RESULTS-FORMAT.md)",
              file=sys.stdout if len(argv) == 2 else sys.stderr)
        return 0 if len(argv) == 2 else 2
    folder = argv[1]
    if not os.path.isdir(folder):
        print("report.py: %s: not a directory" % folder, file=sys.stderr)
        return 2
    try:
        render(Facts(folder))
    except FolderError as e:
        print("report.py: %s" % e, file=sys.stderr)
        return 2
    print("wrote %s" % os.path.join(folder, "report.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
