"""Numbers and tables as report text, and the transports' names: what every
part of the report formats with. Standard library only."""

import math
import unicodedata

TRANSPORTS = ("poll", "longpoll", "sse", "ws")
LABEL = {"poll": "short poll", "longpoll": "long poll", "sse": "SSE", "ws": "WebSocket"}


# ------------------------------------------------------------------ numbers

def sig(x, n=3):
    """A number to n significant digits, never an exponent; '-' for None."""
    if x is None or isinstance(x, bool):
        return "-" if x is None else ("on" if x else "off")
    if isinstance(x, int):
        return str(x) if abs(x) < 10 ** n else sig(float(x), n)
    if not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    v = float("%.*e" % (n - 1, x))          # rounded; may have gained a digit
    e = math.floor(math.log10(abs(v)))
    if e >= n - 1:
        return str(int(v))
    return "%.*f" % (n - 1 - e, v)


def qty(x):
    """A quantity: exact when whole (100, not 100.0), else 3 significant digits."""
    return str(int(x)) if num(x) is not None and x == int(x) and abs(x) < 1e15 else sig(x)


def count(x):
    """An exact count ('-' for None)."""
    return "-" if x is None else str(int(x))


def ms(us):
    return None if us is None else us / 1000.0


def num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def get(obj, path, default=None):
    """obj["a"]["b"] for path "a.b"; default when any step is missing."""
    cur = obj
    for k in path.split("."):
        if not isinstance(cur, dict) or k not in cur:
            return default
        cur = cur[k]
    return default if cur is None else cur


# ------------------------------------------------------------------ tables

def _width(s):
    w = 0
    for ch in s:
        if unicodedata.combining(ch):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def _cell(v):
    return str(v).replace("|", "\\|").replace("\n", " ")


def table(headers, rows, align=None):
    """A GitHub markdown table whose source is aligned as plain text.
    align: a string of 'l'/'r' per column (default: first left, others right)."""
    if align is None:
        align = "l" + "r" * (len(headers) - 1)
    rows = [[_cell(c) for c in r] for r in rows]
    heads = [_cell(h) for h in headers]
    widths = [max([_width(heads[i])] + [_width(r[i]) for r in rows] + [3]) for i in range(len(heads))]

    def pad(s, i):
        gap = " " * (widths[i] - _width(s))
        return s + gap if align[i] == "l" else gap + s

    lines = ["| " + " | ".join(pad(h, i) for i, h in enumerate(heads)) + " |"]
    lines.append("|" + "|".join(("-" * (w + 1) + ":") if align[i] == "r" else ("-" * (w + 2))
                                for i, w in enumerate(widths)) + "|")
    for r in rows:
        lines.append("| " + " | ".join(pad(c, i) for i, c in enumerate(r)) + " |")
    return "\n".join(lines)
