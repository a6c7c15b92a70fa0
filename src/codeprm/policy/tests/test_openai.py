"""OpenAIPolicy against a small fake /v1 server running on 127.0.0.1 in a thread."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from codeprm.errors import CodeprmError
from codeprm.policy import load_policy
from codeprm.policy.openai import OpenAIConfig, OpenAIPolicy
from codeprm.problems import Problem


def fake_text(prompt: str, sample: int, seed) -> str:
    # deterministic in (prompt, sample, seed); contains "STOP" so client-side truncation can be checked
    return f"<{prompt[-3:]}|{sample}|{seed}> x STOP y"


class FakeServer(BaseHTTPRequestHandler):
    requests: list = []  # replaced per server
    fail_next: list = []  # status codes to answer with before behaving

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status: int, payload) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "fake-coder"}, {"id": "other"}]})
        else:
            self._send(404, {"error": "no such route"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if self.fail_next:
            self._send(self.fail_next.pop(0), {"error": "try again"})
            return
        if self.path != "/v1/completions":
            self._send(404, {"error": "no such route"})
            return
        if body.get("max_tokens", 0) > 1000:
            self._send(400, {"error": {"message": "max_tokens too large"}})
            return
        choices = []
        for i, prompt in enumerate(body["prompt"]):
            for j in range(body["n"]):
                text = fake_text(prompt, j, body.get("seed"))
                choice = {"index": i * body["n"] + j, "text": text, "finish_reason": "length"}
                if body.get("logprobs") is not None:
                    tokens = text.split(" ")
                    tokens = [t + " " for t in tokens[:-1]] + tokens[-1:]
                    if body.get("return_tokens_as_token_ids"):
                        tokens = [f"token_id:{len(t)}" for t in tokens]
                    choice["logprobs"] = {"tokens": tokens, "token_logprobs": [-0.5 * (k + 1) for k in range(len(tokens))]}
                choices.append(choice)
        choices.reverse()  # servers need not answer in order
        self._send(200, {"id": "cmpl-1", "object": "text_completion", "model": body["model"], "choices": choices})


@pytest.fixture
def server():
    handler = type("Handler", (FakeServer,), {"requests": [], "fail_next": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_generate_orders_batches_and_truncates(server):
    handler, url = server
    policy = OpenAIPolicy(OpenAIConfig(base_url=url, batch_size=2, api_key="sekret"))
    prompts = ["aaa1", "bbb2", "ccc3"]
    out = policy.generate(prompts, n=2, temperature=0.8, top_p=0.9, max_new_tokens=17, stop=["STOP"], seed=7)
    # results come back per prompt and per sample, whatever order the server used
    assert [[c.text for c in row] for row in out] == [
        [fake_text(p, j, 7 + (i // 2) * 2).split("STOP")[0] for j in range(2)] for i, p in enumerate(prompts)
    ]
    assert all(c.finish_reason == "stop" for row in out for c in row)
    posts = [r for r in handler.requests if r["path"] == "/v1/completions"]
    assert [r["body"]["prompt"] for r in posts] == [["aaa1", "bbb2"], ["ccc3"]]
    first = posts[0]["body"]
    assert first["model"] == "fake-coder"  # the first model /v1/models lists
    assert (first["n"], first["temperature"], first["top_p"], first["max_tokens"], first["stop"]) == (2, 0.8, 0.9, 17, ["STOP"])
    assert "logprobs" not in first
    assert posts[0]["auth"] == "Bearer sekret"


def test_logprobs_are_cut_with_the_text(server):
    handler, url = server
    policy = load_policy(f"openai:{url}/v1#my-model")
    (row,) = policy.generate(["p"], stop=["STOP"], seed=1, return_logprobs=True)
    completion = row[0]
    assert completion.text == fake_text("p", 0, 1).split("STOP")[0]
    # tokens "<p|0|1> ", "x ", "STOP ", "y": the cut falls before "STOP ", so two tokens are kept
    assert completion.meta["tokens"] == ["<p|0|1> ", "x "]
    assert completion.logprobs == [-0.5, -1.0]
    assert completion.token_ids is None  # a plain OpenAI server sends token strings only
    assert handler.requests[-1]["body"]["model"] == "my-model"
    assert handler.requests[-1]["body"]["logprobs"] == 1


def test_token_ids_from_vllm_style_answers(server):
    _, url = server
    policy = OpenAIPolicy(OpenAIConfig(base_url=url, model="m", vllm_token_ids=True))
    completion = policy.generate(["p"], return_logprobs=True)[0][0]
    assert completion.finish_reason == "length"
    assert completion.token_ids == [len("<p|0|None> "), 2, 5, 1]
    assert len(completion.logprobs) == 4


def test_server_errors_retry_then_fail_in_one_line(server):
    handler, url = server
    policy = OpenAIPolicy(OpenAIConfig(base_url=url, model="m", max_retries=1))
    handler.fail_next.extend([503])
    assert policy.generate(["q"])[0][0].text.startswith("<q|0|")  # one 503, then success
    handler.fail_next.extend([503, 502])
    with pytest.raises(CodeprmError, match="HTTP 502"):
        policy.generate(["q"])
    with pytest.raises(CodeprmError, match="HTTP 400.*max_tokens too large"):
        policy.generate(["q"], max_new_tokens=5000)


def test_unreachable_server_is_a_one_line_error():
    policy = OpenAIPolicy(OpenAIConfig(base_url="http://127.0.0.1:9", model="m", max_retries=0, timeout_s=2))
    with pytest.raises(CodeprmError, match="cannot reach http://127.0.0.1:9/v1/completions"):
        policy.generate(["x"])


def test_problem_prompts_use_base_model_prompting(server):
    _, url = server
    policy = load_policy(f"openai:{url}")
    problem = Problem(id="p", prompt="def f(x):\n    \"\"\"Double.\"\"\"\n", entry_point="f")
    assert policy.prompt_for(problem) == problem.prompt.rstrip()
    assert "\ndef " in policy.default_stop(problem)
    out = policy.complete([problem], n=3, seed=2)
    assert [c.text for c in out[0]] == [fake_text(problem.prompt.rstrip(), j, 2) for j in range(3)]
