"""codeprm serve over real HTTP: SandboxFusion's own client and verl's sandbox client against /run_code,
/judge, OpenRLHF's exact /get_reward exchange, bad input (4xx, one line, never a 500), 429 under load."""

import base64
import concurrent.futures
import json

import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi, uvicorn) is not installed")
httpx = pytest.importorskip("httpx")

from codeprm.problems import Problem, TestCase  # noqa: E402

INC = Problem(id="inc", prompt="def f(x):\n", entry_point="f", time_limit_s=1.0,
              tests=[TestCase.call(args=[1], expected=2), TestCase.call(args=[-1], expected=0)])


def post(live, path, body=None, **kw):
    return httpx.post(f"{live.url}{path}", json=body, timeout=60, **kw)


def test_run_code_returns_stdout_stderr_exit_code_and_files(live):
    code = "import sys\nprint('out', 6 * 7)\nprint('err', file=sys.stderr)\nopen('o.txt', 'w').write(open('in.txt').read() * 2)\nsys.exit(3)\n"
    r = post(live, "/run_code", {"code": code, "language": "python", "files": {"in.txt": base64.b64encode(b"ab").decode()},
                                 "fetch_files": ["o.txt", "missing.txt"]})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "Failed" and body["compile_result"] is None
    run = body["run_result"]
    assert (run["status"], run["return_code"], run["stdout"], run["stderr"]) == ("Finished", 3, "out 42\n", "err\n")
    assert base64.b64decode(body["files"]["o.txt"]) == b"abab" and "missing.txt" not in body["files"]


def test_run_code_exceptions_and_limits(live):
    r = post(live, "/run_code", {"code": "raise ValueError('boom')", "language": "python"}).json()
    assert r["status"] == "Failed" and r["run_result"]["return_code"] == 1 and "ValueError: boom" in r["run_result"]["stderr"]
    r = post(live, "/run_code", {"code": "print('started', flush=True)\nwhile True:\n    pass\n", "language": "python",
                                 "run_timeout": 0.3}).json()
    assert r["status"] == "Failed" and r["run_result"]["status"] == "TimeLimitExceeded"
    assert r["run_result"]["stdout"] == "started\n" and r["message"] == ""
    r = post(live, "/run_code", {"code": "x = bytearray(400 << 20)\nprint('no')", "language": "python", "memory_limit_MB": 64}).json()
    assert r["status"] == "Failed" and "no" not in (r["run_result"]["stdout"] or "")


def test_sandbox_fusion_client_against_codeprm_serve(live):
    from sandbox_fusion import RunCodeRequest, RunStatus, run_code

    reply = run_code(RunCodeRequest(code="print(input()[::-1])", stdin="olleh\n", language="python"), endpoint=live.url,
                     max_attempts=1)
    assert reply.status == RunStatus.Success and reply.run_result.stdout == "hello\n"
    reply = run_code(RunCodeRequest(code="print(1/0)", language="python"), endpoint=live.url, max_attempts=1)
    assert reply.status == RunStatus.Failed and "ZeroDivisionError" in reply.run_result.stderr


def test_verl_sandbox_fusion_client_against_codeprm_serve(live):
    pytest.importorskip("verl", reason="the 'verl' extra is not installed")
    from verl.utils.reward_score.sandbox_fusion.utils import call_sandbox_api

    reply, error = call_sandbox_api(f"{live.url}/run_code", "a, b = map(int, input().split())\nprint(a + b)\n", "2 40\n",
                                    compile_timeout=5, run_timeout=5, memory_limit_mb=256, language="python")
    assert error is None and reply["run_result"]["stdout"].strip() == "42"


@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "not valid JSON"),
    (json.dumps({"code": "1", "language": "cobol"}).encode(), 400, "'cobol' is not supported"),
    (json.dumps({"language": "python"}).encode(), 422, "'code'"),
    (json.dumps({"code": "1", "language": "python", "run_timeout": -1}).encode(), 422, "'run_timeout'"),
    (json.dumps({"code": "1", "language": "python", "files": {"../x": ""}}).encode(), 400, "must be relative"),
    (json.dumps({"code": "x" * (3 << 20), "language": "python"}).encode(), 413, "larger than the limit"),
    (json.dumps([1, 2]).encode(), 422, "JSON object"),
])
def test_bad_run_code_requests_get_one_line_4xx(live, body, status, words):
    r = httpx.post(f"{live.url}/run_code", content=body, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert words in detail and "\n" not in detail
    assert r.json()["status"] == "SandboxError"  # SandboxFusion's error shape


def test_judge_completion_and_program(live):
    good = post(live, "/judge", {"problem": INC.model_dump(mode="json"), "completion": "    return x + 1\n"}).json()
    assert good["passed"] == 1.0 and [t["status"] for t in good["tests"]] == ["pass", "pass"]
    bad = post(live, "/judge", {"problem": INC.model_dump_json(), "program": "def f(x):\n    return x\n"}).json()
    assert bad["passed"] == 0.0 and bad["pass_rate"] == 0.0 and bad["status"] == "fail"
    r = post(live, "/judge", {"problem": "humaneval#HumanEval/0", "completion": "    return False\n"})
    assert r.status_code == 200 and r.json()["problem_id"] == "HumanEval/0" and r.json()["passed"] == 0.0
    for body, words in [({"problem": "humaneval#Nope/1", "program": "x"}, "no problem 'Nope/1'"),
                        ({"problem": INC.model_dump(mode="json")}, "exactly one of"),
                        ({"problem": {"id": "x"}, "program": "1"}, "'prompt'"),
                        ({"problem": "jsonl:/etc/passwd#x", "program": "1"}, "names a file")]:
        r = post(live, "/judge", body)
        assert r.status_code == 422 and words in r.json()["detail"], r.text


def test_get_reward_with_openrlhfs_exact_json(live):
    # what OpenRLHF's SingleTurnAgentExecutor posts: decoded prompt+response (special tokens kept), prompts, labels
    prompt = INC.prompt
    body = {"query": [prompt + "    return x + 1\n</s>", prompt + "    return x\n<|im_end|>", prompt + "    return (\n"],
            "prompts": [prompt] * 3, "labels": [INC.model_dump_json()] * 3}
    r = post(live, "/get_reward", body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["rewards"] == [1.0, 0.0, 0.0] and out["scores"] == out["rewards"]
    assert out["extra_logs"]["pass_rate"] == [1.0, 0.0, 0.0] and out["extra_logs"]["infra_error"] == [0.0] * 3
    r = post(live, "/get_reward", {**body, "labels": body["labels"][:2]})
    assert r.status_code == 422 and "differ in length" in r.json()["detail"]


def test_openrlhf_client_code_talks_to_get_reward(live):
    pytest.importorskip("aiohttp")
    try:
        from openrlhf.utils.agent import SingleTurnAgentExecutor
    except ImportError as exc:  # OpenRLHF's own client; the JSON test above covers the exchange without it
        pytest.skip(f"openrlhf client not importable here: {exc}")
    import asyncio

    executor = SingleTurnAgentExecutor(remote_rm_url=f"{live.url}/get_reward")
    replies = asyncio.run(executor._fetch_rewards_via_http([INC.prompt + "    return x + 1\n"], [INC.prompt], [INC.model_dump_json()]))
    assert replies[0]["rewards"] == [1.0]


def test_score_lines_needs_a_prm(live):
    r = post(live, "/score_lines", {"prompt": "", "completion": "x = 1\n"})
    assert r.status_code == 404 and "--prm" in r.json()["detail"]


def test_full_queue_gets_429_with_retry_after_and_health_survives(serve_sandbox):
    from codeprm.serve.app import create_app
    from codeprm.serve.config import ServeConfig
    from codeprm.serve.tests.conftest import Live

    with Live(create_app(ServeConfig(workers=1, queue=1, retry_after_s=2), sandbox=serve_sandbox)) as server:
        slow = {"code": "import time\ntime.sleep(0.6)\n", "language": "python", "run_timeout": 1}
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda _: httpx.post(f"{server.url}/run_code", json=slow, timeout=60), range(6)))
        codes = sorted(r.status_code for r in replies)
        assert set(codes) == {200, 429} and codes.count(200) >= 3, codes  # 2 inside the sandbox + 1 queued
        busy = next(r for r in replies if r.status_code == 429)
        assert busy.headers["retry-after"] == "2" and "queue is full" in busy.json()["detail"]
        assert httpx.get(f"{server.url}/healthz").json()["ok"] is True
        metrics = httpx.get(f"{server.url}/metrics").text
        assert f'codeprm_requests_total{{endpoint="run_code",code="429"}} {codes.count(429)}' in metrics
        assert "codeprm_queue_depth 0" in metrics


def test_client_that_leaves_while_queued_never_runs(serve_sandbox):
    import time

    from codeprm.serve.app import IN_SANDBOX_PER_WORKER, create_app
    from codeprm.serve.config import ServeConfig
    from codeprm.serve.tests.conftest import Live

    app = create_app(ServeConfig(workers=1, queue=4), sandbox=serve_sandbox)
    slow = {"code": "import time\ntime.sleep(1.0)\n", "language": "python", "run_timeout": 2}
    with Live(app) as server:
        with concurrent.futures.ThreadPoolExecutor(IN_SANDBOX_PER_WORKER) as pool:
            inside = [pool.submit(httpx.post, f"{server.url}/run_code", json=slow, timeout=60) for _ in range(IN_SANDBOX_PER_WORKER)]
            time.sleep(0.3)  # the slow ones hold every place inside the sandbox; the next request queues
            with pytest.raises(httpx.TimeoutException):
                httpx.post(f"{server.url}/run_code", json={"code": "print('never')", "language": "python"}, timeout=0.4)
            assert [f.result().status_code for f in inside] == [200] * IN_SANDBOX_PER_WORKER
        time.sleep(0.5)
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'codeprm_requests_total{endpoint="run_code",code="499"} 1' in metrics  # left the queue, nothing ran
        assert f'codeprm_verdicts_total{{endpoint="run_code",status="Finished"}} {IN_SANDBOX_PER_WORKER}' in metrics
        assert httpx.get(f"{server.url}/healthz").json()["running"] == 0


def test_score_lines_and_prm_rewards_with_a_prm(serve_sandbox, tmp_path):
    from fastapi.testclient import TestClient

    from codeprm.prm.model import PRMConfig, ProcessRewardModel
    from codeprm.prm.tests.tiny import tiny_model, tiny_tokenizer
    from codeprm.serve.app import create_app
    from codeprm.serve.config import ServeConfig

    tok = tiny_tokenizer()
    ProcessRewardModel.from_backbone(tiny_model(len(tok)), tok, PRMConfig(mode="prm")).save_pretrained(tmp_path / "prm")
    app = create_app(ServeConfig(workers=2, prm=str(tmp_path / "prm"), prm_weight=0.5), sandbox=serve_sandbox)
    with TestClient(app) as client:
        prm = app.state.server.prm
        completion = "    s = x + 1\n\n    # done\n    return s\n"
        r = client.post("/score_lines", json={"prompt": INC.prompt, "completion": completion})
        assert r.status_code == 200, r.text
        scores = r.json()["scores"]
        assert scores == pytest.approx(prm.score(INC.prompt, completion)) and scores[1] is None and scores[2] is None
        assert r.json()["lines"] == ["    s = x + 1", "", "    # done", "    return s"]
        out = client.post("/get_reward", json={"query": [INC.prompt + completion], "prompts": [INC.prompt],
                                               "labels": [INC.model_dump_json()]}).json()
        low = min(s for s in scores if s is not None)
        assert out["extra_logs"]["prm_min"] == [pytest.approx(low)] and out["rewards"] == [pytest.approx(1.0 + 0.5 * low)]
        assert client.get("/healthz").json()["prm"] is True
        r = client.post("/score_lines", json={"completion": 3})
        assert r.status_code == 422 and "'completion'" in r.json()["detail"]
