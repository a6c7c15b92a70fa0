"""End to end on a tiny model: codeprm prm train -> eval --json -> score -> show --html, and the page
rendered by headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codeprm.cli import app
from codeprm.problems import Problem, TestCase
from codeprm.problems.model import write_jsonl
from codeprm.prm.tests.tiny import BAD, save_tiny_base, synthetic_rows, write_labels

CHROMIUM = "/usr/bin/chromium"
runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    base = save_tiny_base(root / "base")
    data = write_labels(root / "labels", synthetic_rows(problems=4, samples=4))
    for mode in ("prm", "orm"):
        result = runner.invoke(app, ["prm", "train", "--data", str(data), "--base", str(base), "--out", str(root / mode),
                                     "--mode", mode, "--epochs", "2", "--batch-size", "4", "--val-frac", "0.25", "--lr", "1e-3"])
        assert result.exit_code == 0, result.output
    return root, data


def test_eval_writes_the_issue_keys(trained):
    root, data = trained
    result = runner.invoke(app, ["prm", "eval", "--model", str(root / "prm"), "--data", str(data), "--orm", str(root / "orm"),
                                 "--json", str(root / "eval.json")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((root / "eval.json").read_text())
    for key in ("line_auroc", "first_error_accuracy", "bon_pass1_prm_min", "bon_pass1_prm_mean", "bon_pass1_orm",
                "bon_pass1_random", "bon_pass1_oracle", "n", "gap_closed", "prm_minus_orm", "prm_minus_orm_ci95", "problems", "methods"):
        assert key in metrics, key
    lo, hi = metrics["prm_minus_orm_ci95"]
    assert lo <= metrics["prm_minus_orm"] <= hi
    assert {"prm_min", "prm_last", "prm_mean", "orm"} <= set(metrics["methods"])
    assert metrics["n"] == 4 and metrics["problems"] == 4
    assert metrics["bon_pass1_random"] == 0.5 and metrics["bon_pass1_oracle"] == 1.0
    assert 0.0 <= metrics["line_auroc"] <= 1.0 and 0.0 <= metrics["bon_pass1_orm"] <= 1.0


def test_eval_refuses_an_orm_as_the_prm(trained):
    root, data = trained
    result = runner.invoke(app, ["prm", "eval", "--model", str(root / "orm"), "--data", str(data)])
    assert result.exit_code != 0 and "expected a PRM" in str(result.exception)


def test_score_prints_each_line_with_a_score(trained, tmp_path):
    root, _ = trained
    code = tmp_path / "code.py"
    code.write_text(BAD)
    result = runner.invoke(app, ["prm", "score", "--model", str(root / "prm"), "--code", str(code)])
    assert result.exit_code == 0, result.output
    assert "s -= x" in result.output and "# add them up" in result.output
    rows = [re.match(r"\s*(\d+)\s+(\d\.\d{3}|·)\s", line) for line in result.output.splitlines()]
    rows = [(int(m[1]), m[2]) for m in rows if m]
    assert [n for n, _ in rows] == [1, 2, 3, 4, 5]
    assert [s == "·" for _, s in rows] == [False, True, False, False, False]  # line 2 is a comment


class Rows(HTMLParser):
    """Collects the table rows of the line view and the verdict list items."""

    def __init__(self):
        super().__init__()
        self.rows, self.verdicts = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "tr" and "line" in classes:
            self.rows.append({"classes": classes, "score": attrs.get("data-score"), "line": attrs.get("data-line")})
        if tag == "li" and "verdict" in classes:
            self.verdicts.append(classes)


def _show(root: Path, data: Path, tmp_path: Path) -> Path:
    problem = Problem(id="synth/1", prompt="def f(xs):\n", entry_point="f", tests=[TestCase.call([[1, 2]], expected=3)])
    write_jsonl([problem], tmp_path / "problems.jsonl")
    page = tmp_path / "view.html"
    result = runner.invoke(app, ["prm", "show", "--model", str(root / "prm"), "--data", str(data), "--problem", "synth/1",
                                 "--sample", "1", "--benchmark", f"jsonl:{tmp_path / 'problems.jsonl'}", "--html", str(page)])
    assert result.exit_code == 0, result.output
    return page


def test_show_writes_one_row_per_line(trained, tmp_path):
    root, data = trained
    parser = Rows()
    parser.feed(_show(root, data, tmp_path).read_text())
    assert [r["line"] for r in parser.rows] == ["1", "2", "3", "4", "5"]
    assert [r["score"] is not None for r in parser.rows] == [True, False, True, True, True]
    assert [("first-error" in r["classes"]) for r in parser.rows] == [False, False, False, True, False]  # "s -= x"
    assert parser.verdicts and "<script" not in _show(root, data, tmp_path).read_text()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"headless browser test needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)")
def test_show_page_in_headless_chromium(trained, tmp_path):
    root, data = trained
    page = _show(root, data, tmp_path)
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = Rows()
    parser.feed(dom.stdout)  # the DOM as the browser built it, not our string
    assert len(parser.rows) == 5 and sum(r["score"] is not None for r in parser.rows) == 4
    assert sum("first-error" in r["classes"] for r in parser.rows) == 1
    shot = tmp_path / "view.png"
    done = subprocess.run(flags + ["--window-size=1000,600", f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
    keep = Path(__import__("os").environ.get("CODEPRM_KEEP_SCREENSHOT", ""))
    if keep.name:
        shutil.copy(shot, keep)
