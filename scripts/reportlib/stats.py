"""Statistics over repetitions: medians, ranges, noise, and when a ranking
of transports may be claimed.

A workload (every parameter but the transport) ran `repeat` times per
transport (scenario key repeat, bench/README.md). Each figure of a
transport is summed up as the median and the range (min-max) of its
repetitions. Transport A ranks below B on a figure only when A's range lies
wholly below B's: with m and n repetitions, that is the extreme of the
Mann-Whitney U test, whose one-sided p is 1/C(m+n, m) (0.05 for 3 against
3); overlapping ranges, or one repetition, claim nothing. Standard library
only.
"""

import math

from .text import sig


def median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2.0


class Spread:
    """The repetitions of one figure: median, lo, hi, n."""

    def __init__(self, values):
        self.values = sorted(values)
        self.n = len(self.values)
        self.median = median(self.values)
        self.lo, self.hi = self.values[0], self.values[-1]

    def noise(self):
        """Relative range (hi - lo) / median; None without two values or a median above 0."""
        if self.n < 2 or not self.median or self.median <= 0:
            return None
        return (self.hi - self.lo) / self.median

    def text(self, fmt=sig):
        """'median (lo–hi)', or the median alone when the range does not show."""
        lo, hi = fmt(self.lo), fmt(self.hi)
        if self.n < 2 or lo == hi:
            return fmt(self.median)
        return "%s (%s–%s)" % (fmt(self.median), lo, hi)


def spread(values):
    """Spread of the known values, or None when there is none."""
    v = [x for x in values if x is not None]
    return Spread(v) if v else None


def mann_whitney_extreme_p(m, n):
    """One-sided p of m values all below n others (U = 0), no ties."""
    return 1.0 / math.comb(m + n, m)


class Ranking:
    """Transports of a workload ordered by one figure's median.

    lowest, highest: the transport whose range lies wholly below (above)
    every other's, or None when ranges overlap or a transport ran once.
    p: Mann-Whitney's p of the weakest separated pair (the fewest repetitions)."""

    def __init__(self, spreads):
        self.spreads = {t: s for t, s in spreads.items() if s is not None}
        self.order = sorted(self.spreads, key=lambda t: self.spreads[t].median)
        self.repeated = len(self.spreads) >= 2 and all(s.n >= 2 for s in self.spreads.values())
        self.lowest = self._apart(self.order[0], below=True) if self.repeated else None
        self.highest = self._apart(self.order[-1], below=False) if self.repeated else None
        ns = sorted(s.n for s in self.spreads.values())
        self.p = mann_whitney_extreme_p(ns[0], ns[1]) if self.repeated else None

    def _apart(self, t, below):
        me = self.spreads[t]
        others = [s for u, s in self.spreads.items() if u != t]
        if below:
            return t if all(me.hi < o.lo for o in others) else None
        return t if all(me.lo > o.hi for o in others) else None


class Cell:
    """One transport of one workload: its runs (every repetition)."""

    def __init__(self, transport, runs):
        self.transport = transport
        self.runs = sorted(runs, key=lambda r: r.repeat)
        self.ok = [r for r in self.runs if r.ok]

    def spread(self, fn):
        return spread([fn(r) for r in self.ok])


class Workload:
    """Every transport's repetitions of one workload (params but transport)."""

    def __init__(self, params, runs, transports):
        self.params = params
        self.cells = {t: Cell(t, [r for r in runs if r.transport == t]) for t in transports
                      if any(r.transport == t for r in runs)}

    def repeats(self):
        return max((len(c.runs) for c in self.cells.values()), default=0)

    def noise(self, fn):
        """{transport: relative range of fn over its repetitions} where known."""
        out = {}
        for t, c in self.cells.items():
            s = c.spread(fn)
            if s is not None and s.noise() is not None:
                out[t] = s.noise()
        return out

    def ranking(self, fn):
        return Ranking({t: c.spread(fn) for t, c in self.cells.items()})
