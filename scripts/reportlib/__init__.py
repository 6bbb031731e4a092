"""The report generator (scripts/report.py) by concern, one module each:
load (the results folder and its runs), stats (medians, ranges, noise and
when a ranking may be claimed), model (the teaching model with load, and
its flags), facts (every figure, flag and sentence, computed before any
text), sentences, tables, charts, servers (several servers side by side)
and text (numbers, tables, names)."""
