"""``codeprm bench serve`` end to end on a handful of real samples (the full load test is the benchmark)."""

import json

import pytest

from codeprm.serve.bench import DATA

pytest.importorskip("fastapi", reason="the 'serve' extra is not installed")


@pytest.mark.skipif(not DATA.is_file(), reason=f"real samples not found at {DATA} (see /work/shared/data/README.md)")
def test_bench_serve_small(tmp_path):
    from typer.testing import CliRunner

    from codeprm.cli import app

    out = tmp_path / "serve.json"
    result = CliRunner().invoke(app, ["bench", "serve", "--requests", "12", "--clients", "3", "--loop-requests", "9",
                                      "--workers", "2", "--queue", "4", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["requests"] == 12 and set(data["status_counts"]) <= {"200", "429"}
    from codeprm.serve.app import IN_SANDBOX_PER_WORKER

    assert data["status_counts"].get("429", 0) >= 12 - (2 * IN_SANDBOX_PER_WORKER + 4)  # 12 at once: 2 workers, 4 waiting
    assert data["mismatched_verdicts"] == 0 and data["healthz_after"] is True
    assert data["rps_at_3"] > 0 and data["p99_ms_at_3"] >= data["p50_ms_at_3"] > 0 and data["peak_rss_mb"] > 0
