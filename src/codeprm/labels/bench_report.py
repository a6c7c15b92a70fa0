"""The console view of ``codeprm bench label``'s report (the JSON holds everything)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_report(report: dict, console: Console) -> None:
    config = report["config"]
    table = Table(title=f"first-error search, {config['policy']}, K={config['rollouts']}: linear (baseline) vs binary, paper's f")
    for name in ("rows", "resp", "fail", "searched", "lin r/resp", "bin r/resp", "bin/lin", "searched bin/lin",
                 "agree", "first-line share", "violations", "beyond"):
        table.add_column(name, justify="right")
    groups = [(f"suite {s}", t) for s, t in report["by_suite"].items()] + [(f"L {t['lines']}", t) for t in report["by_length"]]
    for name, t in groups:
        table.add_row(name, str(t["responses"]), str(t["failing"]), str(t["searched"]), _fmt(t["linear_rollouts_per_response"], 1),
                      _fmt(t["binary_rollouts_per_response"], 1), _fmt(t["binary_over_linear"]), _fmt(t["searched_binary_over_linear"]),
                      _fmt(t["first_error_agreement"], 3), _fmt(t["first_line_share"]), str(t["monotonic_violations"]), str(t["beyond_policy"]))
    console.print(table)
    ev = report["evidence"]["main"]
    console.print(f"main suite: binary/linear {_fmt(report['binary_over_linear'])}, agreement {_fmt(report['first_error_agreement'], 3)}, "
                  f"first-line share {_fmt(report['first_line_share'])}; L>=16: binary/linear {_fmt(report['long_binary_over_linear'])} "
                  f"over {report['long_responses']} responses ({report['long_searched']} searched, searched-only "
                  f"{_fmt(report['long_searched_binary_over_linear'])})")
    console.print(f"with sibling evidence (not the paper's f): binary/linear {_fmt(ev['binary_over_linear'])}, agreement "
                  f"{_fmt(ev['first_error_agreement'], 3)}, first-line share {_fmt(ev['first_line_share'])}")
    inj = Table(title="first error vs an injected bug (ground truth)")
    for name in ("method", "mutants", "labeled", "beyond policy", "exact (labeled)", "within one (labeled)", "exact (all)", "rollouts/mutant"):
        inj.add_column(name, justify="right")
    for name, a in report["injected"].items():
        inj.add_row(name + (" (by construction)" if name == "mutation" else ""), str(a["mutants"]), str(a["labeled"]),
                    str(a["beyond_policy"]), _fmt(a["exact_of_labeled"]), _fmt(a["within_one_of_labeled"]), _fmt(a["exact"]),
                    _fmt(a["rollouts_per_mutant"], 1))
    console.print(inj)
    console.print(f"injected, binary K={report['injected_rollouts_k']}: exact {_fmt(report['injected_exact_accuracy'])}, within one "
                  f"{_fmt(report['injected_within_one_accuracy'])} of the {_fmt(report['injected_labeled_share'])} share it labeled; smallest K with exact >= 0.70: {report['injected_k_needed']}; "
                  f"skipped {report['injected_skipped']}; infra-skipped responses {report['skipped_infra']}; {report['wall_s']} s")
