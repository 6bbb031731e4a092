"""The report generator (scripts/report.py) by concern, one module each:
text (numbers, tables, names) and servers (the "Servers" part: several
servers side by side). The rest of report.py moves here by issue 12."""
