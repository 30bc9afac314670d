"""The report's command line: python -m jaxssl.report RUN_DIR_OR_GLOB... [--output=...] [--curves=...]
[--compare=...] [--reference=...] [--export=...]."""

from absl import app, flags

from jaxssl.cli import refusals
from jaxssl.report import compare, reference
from jaxssl.report.runs import export_records, grid_point, run_directories
from jaxssl.report.tables import report

_OUTPUT = flags.DEFINE_string("output", "", "Also write the markdown table to this file.")
_CURVES = flags.DEFINE_string("curves", "", "Also draw the runs' training curves into this PNG.")
_KNN = flags.DEFINE_list(
    "knn", [], "kNN grid points k/T shown as columns (e.g. 20/0.07,200/0.07) instead of the best."
)
_COMPARE = flags.DEFINE_list(
    "compare",
    [],
    "ROW:ROW pairs of 1-based table rows (2:1,3:1): each row's paired difference from the other; a row may "
    "name the column it is compared on (3[own classifier]:1[fine-tune 1 %]).",
)
_REFERENCE = flags.DEFINE_string(
    "reference",
    "",
    "A paper's published table (JSON, reference.py) beside the runs': its row order, numbers and unmeasured rows.",
)
_EXPORT = flags.DEFINE_string(
    "export", "", "Also copy the runs' records (config.json and the .jsonl logs) into DIR/<run name>/."
)


def main(argv):
    if len(argv) < 2:
        raise app.UsageError("name at least one run directory or glob: python -m jaxssl.report runs/*")
    points = tuple(grid_point(point) for point in _KNN.value)
    pairs = compare.parse_pairs(_COMPARE.value)
    published = reference.load(_REFERENCE.value) if _REFERENCE.value else None
    text = report(
        argv[1:],
        output=_OUTPUT.value,
        curves=_CURVES.value,
        knn_points=points,
        pairs=pairs,
        reference=published,
    )
    if _EXPORT.value:
        export_records(run_directories(argv[1:]), _EXPORT.value)
    print(text, end="")


if __name__ == "__main__":
    app.run(refusals.one_line_refusals(main), flags_parser=refusals.one_line_refusals(refusals.parse_flags))
