"""The CLI: bad input is one line on stderr and exit 2; the benchmark summary is computed right."""

import subprocess
import sys

import pytest

from codeprm.labels.bench import probe_bound, summarize_records


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-c", "from codeprm.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["--rollouts", "0"], "field 'rollouts'"),
    (["-K", "0"], "field 'rollouts'"),
    (["--benchmark", "nosuch"], "unknown benchmark"),
    (["--method", "guess"], "field 'method'"),
    (["--set", "nosuch=1"], "field 'nosuch'"),
])
def test_label_bad_input_exits_2(tmp_path, args, message):
    result = _cli("label", "--policy", "reference", "--out", str(tmp_path / "o"), *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o" / "labels.sqlite").exists()


def test_label_refuses_a_store_of_another_configuration(tmp_path):
    from codeprm.labels.store import LabelStore

    out = tmp_path / "o"
    with LabelStore(out / "labels.sqlite", {"policy": "reference", "method": "linear"}):
        pass
    before = (out / "labels.sqlite").read_bytes()
    result = _cli("label", "--policy", "reference", "--benchmark", "synth:heldout", "--out", str(out), "--limit", "1")
    assert result.returncode == 2 and "another configuration" in result.stderr
    assert (out / "labels.sqlite").read_bytes() == before


def _record(lines, passed=False, b=(8, 2, 3), lin=(16, 4, 3), beyond=False, violation=False, suite="heldout", first_line=False):
    rec = {"suite": suite, "lines": lines, "scored_lines": lines, "passed": passed, "truncated": False}
    for prefix in ("", "evidence_"):
        rec.update({f"{prefix}binary_rollouts": b[0], f"{prefix}binary_probes": b[1], f"{prefix}binary_first_error": b[2],
                    f"{prefix}linear_rollouts": lin[0], f"{prefix}linear_probes": lin[1], f"{prefix}linear_first_error": lin[2],
                    f"{prefix}linear_beyond_policy": beyond, f"{prefix}binary_beyond_policy": beyond,
                    f"{prefix}linear_violation": violation, f"{prefix}binary_violation": False,
                    f"{prefix}binary_first_line": first_line, f"{prefix}linear_first_line": first_line})
    return rec


def test_summarize_records():
    records = [
        _record(4, first_line=True),
        _record(20, b=(10, 5, 7), lin=(40, 20, 7)),
        _record(20, b=(10, 5, 9), lin=(40, 20, 6), violation=True),  # disagreement
        _record(20, passed=True, b=(0, 0, None), lin=(0, 0, None)),
        _record(3, b=(2, 1, None), lin=(2, 1, None), beyond=True),
        _record(30, b=(12, 6, 8), lin=(60, 30, 8), suite="long"),
    ]
    report = summarize_records(records)
    assert report["responses"] == 5 and report["failing"] == 4 and report["searched"] == 3
    assert report["first_error_agreement"] == pytest.approx(2 / 3)
    assert report["first_line_share"] == pytest.approx(1 / 3)
    assert report["binary_rollouts_per_response"] == pytest.approx(30 / 5)
    assert report["linear_rollouts_per_response"] == pytest.approx(98 / 5)
    assert report["long_binary_over_linear"] == pytest.approx(32 / 140) and report["long_responses"] == 4
    assert report["monotonic_violations"] == 1 and report["beyond_policy"] == 1 and report["passed"] == 1
    assert report["by_suite"]["long"]["responses"] == 1
    assert [b["lines"] for b in report["by_length"]] == ["0-3", "4-7", "16-31"]
    assert probe_bound(16) == 6 and probe_bound(17) == 7 and probe_bound(1) == 2


def test_run_label_bench_on_fake_policy(tmp_path, sandbox):
    from codeprm.labels.bench import LabelBenchConfig, run_label_bench
    from codeprm.labels.tests.fakes import PROBLEMS, SPECS, FakePolicy
    from codeprm.problems import write_jsonl

    write_jsonl(PROBLEMS, tmp_path / "p.jsonl")
    config = LabelBenchConfig(policy="fake", benchmark=f"jsonl:{tmp_path / 'p.jsonl'}", samples=4, rollouts=2,
                              long_benchmark=None, injected_rollouts=[1, 2])
    report = run_label_bench(config, policy=FakePolicy(), sandbox=sandbox, cache_path=tmp_path / "cache.sqlite", show_progress=False)
    bug = {s.problem.id: s.bug_line for s in SPECS}
    assert report["responses"] == 12 and len(report["records"]) == 12
    for r in report["records"]:
        if not r["passed"] and not r["linear_beyond_policy"]:
            assert r["linear_first_error"] == r["binary_first_error"] == r["evidence_binary_first_error"] == bug[r["problem_id"]]
            assert r["evidence_binary_probes"] <= r["binary_probes"] <= probe_bound(r["scored_lines"])
    assert report["first_error_agreement"] == 1.0 and report["probe_bound_exceeded"] == 0
    assert report["binary_rollouts_per_response"] < report["linear_rollouts_per_response"]
    assert report["evidence"]["main"]["binary_rollouts_per_response"] <= report["binary_rollouts_per_response"]
    cost = report["distinct_rollouts"]
    assert 0 < cost["evidence_binary"] <= cost["binary"] < cost["linear"]
    assert report["searched_binary_over_linear"] < 1
    # the fake policy continues a prefix into the reference: every injected bug is found exactly
    inj = report["injected"]
    assert inj["linear"]["mutants"] == 3 and inj["linear"]["labeled"] >= 1
    for name in ("linear", "binary_k1", "binary_k2", "mc", "evidence_binary"):  # exact wherever f(0) = 1 let it label
        a = inj[name]
        assert a["exact"] * a["mutants"] == pytest.approx(a["labeled"]) and a["labeled"] + a["beyond_policy"] == a["mutants"]
    # a second run over the same cache file generates nothing new
    again = run_label_bench(config, policy=FakePolicy(), sandbox=sandbox, cache_path=tmp_path / "cache.sqlite", show_progress=False)
    assert again["records"] == report["records"]
