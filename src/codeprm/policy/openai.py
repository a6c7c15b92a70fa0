"""``OpenAIPolicy``: any server speaking the OpenAI ``/v1/completions`` API (vLLM, TGI, llama.cpp, ...).

Prompts are raw text continued by the server's model (base-model prompting, see ``prompts.py``); stop
sequences are sent to the server *and* applied again here, so a server that ignores or limits them
(OpenAI accepts at most 4) still yields completions cut at the earliest stop. Log-probs are the server's
``token_logprobs`` of the sampled tokens; token ids come back only from servers that can send them
(vLLM with ``return_tokens_as_token_ids``, which ``vllm_token_ids`` asks for)."""

from __future__ import annotations

import os
import time
from typing import Sequence

import httpx
from pydantic import Field

from codeprm.config import StrictModel
from codeprm.errors import CodeprmError
from codeprm.policy.base import Completion, Policy
from codeprm.policy.prompts import base_prompt, base_stops
from codeprm.policy.stops import find_stop
from codeprm.problems import Problem


class OpenAIConfig(StrictModel):
    """Where the endpoint is and how to talk to it."""

    base_url: str = Field(description="server root, with or without the trailing /v1 (http://127.0.0.1:8000)")
    model: str | None = Field(default=None, description="model name sent with each request; None: the first one /v1/models lists")
    api_key: str | None = Field(default=None, description="bearer token; None: $OPENAI_API_KEY when set, else no auth header")
    batch_size: int = Field(default=16, ge=1, description="prompts per request (each request asks for n samples of each)")
    timeout_s: float = Field(default=300.0, gt=0, description="seconds to wait for one request")
    max_retries: int = Field(default=2, ge=0, description="retries of a request that failed with a connection error, a timeout or a 5xx")
    vllm_token_ids: bool = Field(default=False, description="ask vLLM for token ids (return_tokens_as_token_ids); other servers may reject it")


class OpenAIPolicy(Policy):
    def __init__(self, config: OpenAIConfig, client: httpx.Client | None = None):
        self.config = config
        root = config.base_url.rstrip("/")
        self.api_url = root if root.endswith("/v1") else root + "/v1"
        key = config.api_key if config.api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = client or httpx.Client(timeout=config.timeout_s, headers=headers)
        self._model = config.model
        self.name = f"openai:{config.base_url}" + (f"#{config.model}" if config.model else "")

    @classmethod
    def from_spec(cls, spec: str) -> "OpenAIPolicy":
        """``BASE_URL[#model]``, the part of ``openai:BASE_URL[#model]`` after the colon."""
        url, _, model = spec.partition("#")
        if not url.startswith(("http://", "https://")):
            raise CodeprmError(f"openai policy needs an http(s) URL: openai:http://HOST:PORT[#model], got '{spec}'")
        return cls(OpenAIConfig(base_url=url, model=model or None))

    def prompt_for(self, problem: Problem) -> str:
        return base_prompt(problem)

    def default_stop(self, problem: Problem) -> list[str]:
        return base_stops(problem)

    @property
    def model(self) -> str:
        if self._model is None:
            listing = self._request("GET", "/models")
            models = [m.get("id") for m in listing.get("data", []) if m.get("id")]
            if not models:
                raise CodeprmError(f"{self.api_url}/models lists no model; name one: openai:{self.config.base_url}#MODEL")
            self._model = models[0]
        return self._model

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        return_logprobs: bool = False,
    ) -> list[list[Completion]]:
        stops = [s for s in (stop or []) if s]
        results: list[list[Completion]] = []
        for start in range(0, len(prompts), self.config.batch_size):
            chunk = list(prompts[start : start + self.config.batch_size])
            body = {
                "model": self.model,
                "prompt": chunk,
                "n": n,
                "temperature": temperature,
                "top_p": top_p,
                "max_tokens": max_new_tokens,
            }
            if stops:
                body["stop"] = stops
            if seed is not None:
                body["seed"] = seed + start  # one seed per request, so chunks do not repeat each other
            if return_logprobs:
                body["logprobs"] = 1
                if self.config.vllm_token_ids:
                    body["return_tokens_as_token_ids"] = True
            answer = self._request("POST", "/completions", json=body)
            choices = sorted(answer.get("choices", []), key=lambda c: c.get("index", 0))
            if len(choices) != len(chunk) * n:
                raise CodeprmError(f"{self.api_url}/completions returned {len(choices)} choices for {len(chunk)} prompts x n={n}")
            for i in range(len(chunk)):  # choice index = prompt index * n + sample index
                results.append([_completion(c, stops, return_logprobs) for c in choices[i * n : (i + 1) * n]])
        return results

    def _request(self, method: str, path: str, **kwargs) -> dict:
        url = self.api_url + path
        for attempt in range(self.config.max_retries + 1):
            last = attempt == self.config.max_retries
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:  # refused, reset, timed out
                if last:
                    raise CodeprmError(f"cannot reach {url}: {exc.__class__.__name__}: {exc}") from None
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise CodeprmError(f"{url} answered with something that is not JSON") from None
                if response.status_code < 500 or last:
                    raise CodeprmError(f"{url} answered HTTP {response.status_code}: {response.text[:300]}")
            time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")


def _completion(choice: dict, stops: Sequence[str], return_logprobs: bool) -> Completion:
    text = choice.get("text") or ""
    reason = "length" if choice.get("finish_reason") == "length" else "stop"
    at = find_stop(text, stops) if stops else -1
    if at != -1:
        text, reason = text[:at], "stop"
    if not return_logprobs:
        return Completion(text=text, finish_reason=reason)
    info = choice.get("logprobs") or {}
    tokens = list(info.get("tokens") or [])
    logprobs = [float(x) if x is not None else 0.0 for x in info.get("token_logprobs") or []]
    as_ids = bool(tokens) and all(t.startswith("token_id:") for t in tokens)
    if at != -1 and not as_ids:  # keep the tokens whose text starts before the cut (the server may not have stopped)
        keep, chars = 0, 0
        while keep < len(tokens) and chars < at:
            chars += len(tokens[keep])
            keep += 1
        tokens, logprobs = tokens[:keep], logprobs[:keep]
    return Completion(
        text=text,
        token_ids=[int(t.split(":", 1)[1]) for t in tokens] if as_ids else None,
        logprobs=logprobs,
        finish_reason=reason,
        meta={"tokens": tokens},
    )
