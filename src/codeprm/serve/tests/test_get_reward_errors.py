"""/get_reward's client errors, as OpenRLHF 0.11.2 produces them: no --data.label_key ("" labels), an
empty label cell (None), a prompt the decoded query does not contain. Each is a 422 naming the index
and what to do, logged by the server (OpenRLHF itself logs only the status line, at INFO); never a 0."""

import logging

import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi, uvicorn) is not installed")

from codeprm.problems import Problem, TestCase  # noqa: E402

INC = Problem(id="inc", prompt="def f(x):\n", entry_point="f", time_limit_s=1.0, tests=[TestCase.call(args=[1], expected=2)])


def test_missing_label_and_prompt_not_in_query_are_422s_naming_them(serve_sandbox, caplog):
    from fastapi.testclient import TestClient

    from codeprm.serve.app import create_app
    from codeprm.serve.config import ServeConfig

    good = INC.prompt + "    return x + 1\n"
    with TestClient(create_app(ServeConfig(workers=1), sandbox=serve_sandbox)) as client, \
            caplog.at_level(logging.WARNING, logger="codeprm.serve"):
        def reward(query, prompts, labels):
            return client.post("/get_reward", json={"query": query, "prompts": prompts, "labels": labels})

        ok = reward([good, good], [INC.prompt] * 2, [INC.model_dump_json()] * 2)
        assert ok.status_code == 200 and ok.json()["rewards"] == [1.0, 1.0]
        for labels, words in (([INC.model_dump_json(), None], "labels[1] is None"), (["", ""], "labels[0] is ''")):
            r = reward([good, good], [INC.prompt] * 2, labels)
            assert r.status_code == 422 and words in r.json()["detail"] and "--data.label_key" in r.json()["detail"], r.text
        r = reward([good, "<|user|>def f(y):\n    return y\n"], [INC.prompt] * 2, [INC.model_dump_json()] * 2)
        assert r.status_code == 422 and "prompts[1] is not in query[1]" in r.json()["detail"], r.text
    assert sum("/get_reward 422" in rec.getMessage() for rec in caplog.records) == 3
