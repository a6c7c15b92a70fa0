"""A static HTML page (no JavaScript) showing a program's line scores: one table row per completion line,
coloured from red (likely wrong) to green (likely correct), the labelled first error marked, and the
test verdicts listed."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Sequence

from codeprm.labels.lines import split_lines

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; background: #fff; }
th { text-align: left; font-size: 12px; color: #444; padding: 2px 8px; }
h1 { font-size: 1.25em; margin: 0 0 .3em; }
p.meta { color: #555; margin: .2em 0 1em; }
table.code { border-collapse: collapse; font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: 13px; }
table.code td { padding: 1px 8px; vertical-align: top; white-space: pre; }
td.num { color: #777; text-align: right; border-right: 1px solid #ccc; }
td.score { text-align: right; min-width: 4.5em; border-right: 1px solid #ccc; }
td.label { text-align: center; min-width: 2.5em; border-right: 1px solid #ccc; color: #444; }
tr.prompt td.src { color: #888; }
tr.neutral td.score { color: #aaa; }
tr.first-error td { border-top: 2px solid #b00020; border-bottom: 2px solid #b00020; }
tr.first-error td.num { font-weight: bold; color: #b00020; }
span.marker { color: #b00020; font-weight: bold; font-family: system-ui, sans-serif; }
ul.verdicts { font-family: ui-monospace, monospace; font-size: 13px; }
li.pass { color: #146c2e; } li.fail, li.runtime_error, li.timeout, li.memory, li.syntax_error, li.output_limit { color: #b00020; }
li.infra_error { color: #8a6d00; }
.legend span { display: inline-block; padding: 0 .6em; margin-right: .3em; font-size: 12px; }
"""


@dataclass
class Verdict:
    """One line of the verdict list: a test's name, its status, and an optional detail."""

    name: str
    status: str
    detail: str = ""


def goodness(score: float, loss: str) -> float:
    """A score on [-1, 1] (bce probabilities rescaled, mse outputs clipped) for colouring."""
    value = 2.0 * score - 1.0 if loss == "bce" else score
    return max(-1.0, min(1.0, value))


def colour(score: float, loss: str) -> str:
    """Green for likely correct, red for likely wrong, paler towards the threshold."""
    g = goodness(score, loss)
    alpha = 0.15 + 0.55 * abs(g)
    return f"rgba(30,160,70,{alpha:.2f})" if g >= 0 else f"rgba(215,40,40,{alpha:.2f})"


def _label_text(label: float | None) -> str:
    if label is None:
        return ""
    return f"{label:+.0f}" if label in (1.0, -1.0) else f"{label:.2f}"


def render_line_scores(title: str, lines: Sequence[str], scores: Sequence[float | None], loss: str,
                       labels: Sequence[float | None] | None = None, first_error: int | None = None,
                       verdicts: Sequence[Verdict] = (), prompt: str = "", meta: str = "") -> str:
    """The page. Each completion line is a ``tr.line`` with ``data-line`` (1-based) and, when scored,
    class ``scored`` and ``data-score``; neutral lines have class ``neutral``. The prompt's lines, when
    given, come first as ``tr.prompt`` rows without scores."""
    esc = html.escape
    rows = []
    for text in split_lines(prompt):
        rows.append(f'<tr class="prompt"><td class="num"></td><td class="score"></td><td class="label"></td><td class="src">{esc(text)}</td></tr>')
    for i, text in enumerate(lines):
        score = scores[i] if i < len(scores) else None
        classes = ["line", "scored" if score is not None else "neutral"]
        attrs = f' data-line="{i + 1}"'
        style = ""
        if score is not None:
            attrs += f' data-score="{score:.4f}"'
            style = f' style="background:{colour(score, loss)}"'
        marker = ""
        if first_error == i:
            classes.append("first-error")
            marker = ' <span class="marker">&#9664; labelled first error</span>'
        label = _label_text(labels[i]) if labels is not None else ""
        shown = f"{score:.3f}" if score is not None else "&middot;"
        rows.append(f'<tr class="{" ".join(classes)}"{attrs}{style}><td class="num">{i + 1}</td><td class="score">{shown}</td>'
                    f'<td class="label">{esc(label)}</td><td class="src">{esc(text.rstrip(chr(13)))}{marker}</td></tr>')
    items = "".join(f'<li class="verdict {esc(v.status)}">{esc(v.name)}: {esc(v.status)}{(" &mdash; " + esc(v.detail)) if v.detail else ""}</li>'
                    for v in verdicts) or '<li class="verdict none">no test verdicts</li>'
    threshold = "0.5 (probability)" if loss == "bce" else "0 (regression, targets &plusmn;1)"
    legend = (f'<p class="legend">score: <span style="background:{colour(1.0, loss)}">likely correct</span>'
              f'<span style="background:{colour(0.5 if loss == "bce" else 0.0, loss)}">threshold {threshold}</span>'
              f'<span style="background:{colour(0.0 if loss == "bce" else -1.0, loss)}">likely wrong</span>'
              f' &middot; label column: the line label from codeprm label (+1 correct so far, -1 at or after the first error)</p>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title><style>{_STYLE}</style></head>\n'
            f'<body><h1>{esc(title)}</h1><p class="meta">{esc(meta)}</p>{legend}\n'
            f'<table class="code"><thead><tr><th>#</th><th>score</th><th>label</th><th>code</th></tr></thead><tbody>\n'
            + "\n".join(rows)
            + f'\n</tbody></table>\n<h2>Test verdicts</h2><ul class="verdicts">{items}</ul>\n</body></html>\n')
