"""The resumable store: kill -9 and rerun loses and duplicates nothing; other configurations are
refused without touching the store; exports load with HF datasets."""

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codeprm.errors import CodeprmError
from codeprm.labels.job import STORE_NAME, LabelConfig, run_label_job
from codeprm.labels.lines import is_neutral
from codeprm.labels.tests import job_script
from codeprm.labels.tests.fakes import SPECS, FakePolicy
from codeprm.problems import Problem, write_jsonl

SCRIPT = Path(job_script.__file__)


def _problems(copies: int) -> list[Problem]:
    """The fake problems under several ids, so a job has enough responses to be killed mid-way."""
    return [s.problem.model_copy(update={"id": f"{s.problem.id}#{c}"}) for c in range(copies) for s in SPECS]


@pytest.fixture
def bench(tmp_path) -> Path:
    path = tmp_path / "bench.jsonl"
    write_jsonl(_problems(4), path)
    return path


def _stored(out: Path) -> list[tuple]:
    conn = sqlite3.connect(out / STORE_NAME)
    try:
        return conn.execute("SELECT problem_id, sample_index, rows FROM labels ORDER BY problem_id, sample_index").fetchall()
    finally:
        conn.close()


def _comparable(rows_json: str) -> list[dict]:
    rows = json.loads(rows_json)
    for r in rows:
        r.pop("fresh_rollouts")  # depends on what the cache held when the row was made
    return rows


def _count(out: Path) -> int:
    try:
        conn = sqlite3.connect(out / STORE_NAME, timeout=1)
        try:
            return conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def test_kill_9_and_resume_loses_and_duplicates_nothing(tmp_path, bench, sandbox):
    total = 12 * 3
    reference = tmp_path / "reference"
    run_label_job(job_script.config(str(bench)), reference, policy=FakePolicy(), sandbox=sandbox, show_progress=False)
    assert len(_stored(reference)) == total

    out = tmp_path / "killed"
    kills = []
    for target in (3, 12, 24):  # kill at three different points of the job
        proc = subprocess.Popen([sys.executable, str(SCRIPT), str(out), str(bench), "0.05", "binary"])
        deadline = time.time() + 60
        while _count(out) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append(_count(out))
    assert 0 < kills[0] and kills[-1] < total, f"kills at {kills}: the job was not interrupted mid-way"
    assert kills == sorted(kills)  # each rerun continued, nothing was undone
    done = subprocess.run([sys.executable, str(SCRIPT), str(out), str(bench), "0", "binary"], timeout=120)
    assert done.returncode == 0

    resumed, expected = _stored(out), _stored(reference)
    assert [(p, i) for p, i, _ in resumed] == [(p, i) for p, i, _ in expected]  # no loss, no duplicate
    for (_, _, got), (_, _, want) in zip(resumed, expected):
        assert _comparable(got) == _comparable(want)
    exported = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    assert len(exported) == total and len({(r["problem_id"], r["sample_index"]) for r in exported}) == total


def test_other_configuration_is_refused_and_store_untouched(tmp_path, bench, sandbox):
    out = tmp_path / "run"
    config = job_script.config(str(bench))
    run_label_job(config, out, policy=FakePolicy(), sandbox=sandbox, show_progress=False)
    before = hashlib.sha256((out / STORE_NAME).read_bytes()).hexdigest()
    listing = sorted(p.name for p in out.iterdir())
    for change in ({"rollouts": 3}, {"method": "linear"}, {"seed": 8}, {"policy": "other"}, {"evidence": True}):
        with pytest.raises(CodeprmError, match="another configuration"):
            run_label_job(config.model_copy(update=change), out, policy=FakePolicy(), sandbox=sandbox, show_progress=False)
    assert hashlib.sha256((out / STORE_NAME).read_bytes()).hexdigest() == before
    assert sorted(p.name for p in out.iterdir()) == listing
    # The same configuration with a larger limit is the same job: it resumes.
    again = run_label_job(config.model_copy(update={"limit": 100}), out, policy=FakePolicy(), sandbox=sandbox, show_progress=False)
    assert again.responses == 36 and again.fresh_rollouts > 0


def test_k_below_one_is_refused():
    with pytest.raises(ValueError):
        LabelConfig(rollouts=0)
    with pytest.raises(ValueError):
        LabelConfig(k=4)  # the old field name: unknown fields are an error


def test_a_store_of_the_old_probe_definition_is_refused_with_how_to_relabel(tmp_path, bench, sandbox):
    import sqlite3

    out = tmp_path / "old"
    out.mkdir()
    conn = sqlite3.connect(out / STORE_NAME)
    conn.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                       "INSERT INTO meta VALUES ('identity', '{}'); INSERT INTO meta VALUES ('schema_version', '1');")
    conn.commit()
    conn.close()
    config = job_script.config(str(bench)).model_copy(update={"limit": 1})
    with pytest.raises(CodeprmError, match="bare newline.*--no-resume"):
        run_label_job(config, out, policy=FakePolicy(), sandbox=sandbox, show_progress=False)
    fresh = run_label_job(config.model_copy(update={"resume": False}), out, policy=FakePolicy(), sandbox=sandbox, show_progress=False)
    assert fresh.responses == 3


def test_not_a_store_is_refused(tmp_path, bench, sandbox):
    out = tmp_path / "junk"
    out.mkdir()
    (out / STORE_NAME).write_bytes(b"not sqlite at all, just bytes" * 10)
    with pytest.raises(CodeprmError, match="not a codeprm label store"):
        run_label_job(job_script.config(str(bench)), out, policy=FakePolicy(), sandbox=sandbox, show_progress=False)


@pytest.mark.parametrize("method", ["binary", "mc", "mutation"])
def test_exports_load_with_datasets(tmp_path, bench, sandbox, method):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / method
    summary = run_label_job(job_script.config(str(bench), method).model_copy(update={"limit": 3}), out,
                            policy=FakePolicy(), sandbox=sandbox, show_progress=False)
    for fmt in ("json", "parquet"):
        ext = "jsonl" if fmt == "json" else "parquet"
        rich = datasets.load_dataset(fmt, data_files=str(out / f"labels.{ext}"), split="train")
        step = datasets.load_dataset(fmt, data_files=str(out / f"stepwise.{ext}"), split="train")
        assert len(rich) == summary.rows and summary.responses == 9
        for row in rich:
            assert len(row["labels"]) == len(row["lines"]) and row["method"] == method
            assert row["lines"] == row["completion"].split("\n")[: len(row["lines"])]
            for line, value in zip(row["lines"], row["labels"]):
                assert value is None or not is_neutral(line)
            if row["first_error"] is not None:
                assert row["labels"][row["first_error"]] is not None and row["labels"][row["first_error"]] <= 0.5
        labeled = [r for r in rich if any(v is not None for v in r["labels"])]
        assert len(step) == len(labeled) > 0
        for s, r in zip(step, labeled):
            assert s["prompt"] == r["policy_prompt"]
            assert s["completions"] == [l for l, v in zip(r["lines"], r["labels"]) if v is not None]
            assert s["labels"] == [v >= 0.5 for v in r["labels"] if v is not None]
    assert json.loads((out / "config.json").read_text())["method"] == method
