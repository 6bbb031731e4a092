"""Everything the report says, computed from the folder before any text is
written: the runs (load), the model and its flags (model), the headline
workloads with their repetitions (stats), the sentences (sentences). The
text modules (tables, charts) only format these. Standard library only."""

from . import sentences
from .charts import Charts
from .load import Folder, group
from .model import Model, compare, compute_flags, figures
from .stats import Workload
from .text import TRANSPORTS


class Facts:
    def __init__(self, path):
        fo = Folder(path)
        self.folder = path
        self.manifest, self.manifest_missing = fo.manifest, fo.manifest_missing
        self.all_runs, self.runs, self.servers, self.primary = fo.all_runs, fo.runs, fo.servers, fo.primary
        self.profiles, self.main_section = fo.profiles, fo.main_section
        self.ok_runs = fo.ok_runs
        self.repeated = fo.repeated()
        self.model = Model(fo)
        self.flags = compute_flags(self.runs, self.model)
        self.headline = [Workload(params, runs, TRANSPORTS) for params, runs in
                         group([r for r in self.runs if r.section == self.main_section], ("transport",))]
        self.sentences = sentences.which_when(self)
        self.charts = Charts(path)

    def cell(self, run, what):
        """The measured/model ratio cell of a run's figure (flagged or not)."""
        if run.client_limited:
            return "client-limited"
        measured, mval = figures(run, self.model)[what]
        text = compare(measured, mval)[0]
        if (run.n, what) in self.flags and "⚠" not in text:
            text = "⚠ saturated" if mval is None else text + " ⚠"
        return text
