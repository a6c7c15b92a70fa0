"""The *long* synth suite: programs of 16 to 40 lines, for measuring label search cost on long programs.

A long problem is a function whose body defines three to five helper functions, each one an ordinary
synth composition (``synth.py``) over the same input, and returns the list of their results. The
docstring names every helper and lists its steps one per line, as the short suite does. Lines are
counted in the reference body (the completion); only problems whose body has 16..40 lines are kept.

``synth:long[?size=N&seed=S&parts=A-B]``: default 60 problems, seed 2, 3-5 parts; train-split
compositions only (the tiny policy has seen their kind), difficulty 2-4 each.
"""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

from codeprm.errors import CodeprmError
from codeprm.problems import synth
from codeprm.problems.model import Problem, TestCase

MIN_LINES, MAX_LINES = 16, 40
DOMAINS = ("list", "chars", "words")  # "num" iterations can loop up to 10**6 times: left out


def _draw_part(rng: random.Random, domain: str) -> synth.Composition | None:
    for _ in range(200):
        target = rng.randint(2, 4)
        with_post = target > 2 and rng.random() < 0.3
        comp = synth._draw_composition(rng, target - 2 - with_post, with_post)
        if comp is not None and comp.domain == domain and comp.difficulty == target:
            return comp
    return None


def _make_long(rng: random.Random, n_parts: int, pid: str) -> Problem | None:
    domain = rng.choice(DOMAINS)
    comps = [_draw_part(rng, domain) for _ in range(n_parts)]
    if any(c is None for c in comps):
        return None
    names: list[str] = []
    for c in comps:
        name = synth._name(c)[:32]
        while name in names:
            name += "_b"
        names.append(name)
    uses_k = any(c.uses_k for c in comps)
    param = synth.PARAMS[domain]
    params = [param] + (["k"] if uses_k else [])
    body, doc, funcs = [], [f"Return a list with the results of {n_parts} helper functions, in this order."], []
    for comp, name in zip(comps, names):
        p, phrases, part_body = synth._render(comp, name)
        body.append(f"    def {name}({', '.join(p)}):")
        body.extend("    " + line for line in part_body.rstrip("\n").split("\n"))
        doc.append(f"{name}({', '.join(p)}):")
        doc.extend("    " + phrase for phrase in phrases)
        funcs.append((synth._compile(p, part_body, name), len(p) > 1))
    calls = [f"{n}({', '.join(params if two else params[:1])})" for n, (_, two) in zip(names, funcs)]
    body.append(f"    return [{', '.join(calls)}]")
    if not MIN_LINES <= len(body) <= MAX_LINES:
        return None
    tests, seen = [], set()
    for attempt in range(synth.N_TESTS * 4):
        args = synth._random_input(domain, rng, uses_k, attempt if attempt < 3 else None, comps[0].iterate.key)
        if repr(args) in seen:
            continue
        seen.add(repr(args))
        try:
            expected = [f(*(list(a) if isinstance(a, list) else a for a in (args if two else args[:1]))) for f, two in funcs]
        except Exception:
            return None
        if any(isinstance(e, int) and abs(e) > 10**12 for e in expected):
            return None
        tests.append((args, expected))
        if len(tests) == synth.N_TESTS:
            break
    if len({repr(e) for _, e in tests}) < synth.MIN_DISTINCT_OUTPUTS:
        return None
    fname = f"long_{'_'.join(c.accumulate.key for c in comps)}"[:40]
    args, expected = tests[-1]
    doc += [f">>> {fname}({', '.join(repr(a) for a in args)})", repr(expected)]
    prompt = f"def {fname}({', '.join(params)}):\n    \"\"\"" + "\n    ".join(doc) + "\n    \"\"\"\n"
    cases = [TestCase.model_construct(kind="call", args=a, kwargs={}, expected=e) for a, e in tests]
    return Problem(id=pid, prompt=prompt, entry_point=fname, tests=cases, reference="\n".join(body) + "\n",
                   time_limit_s=2.0, style="completion", source="synth")


def generate_long(size: int = 60, seed: int = 2, parts: tuple[int, int] = (3, 5)) -> list[Problem]:
    """``size`` long problems (16-40 reference lines); deterministic in its arguments."""
    rng = random.Random(f"codeprm-synth-long:{seed}")
    out: list[Problem] = []
    attempts = 0
    while len(out) < size:
        attempts += 1
        if attempts > 200 * size:
            raise CodeprmError(f"synth:long could not draw {size} problems of {MIN_LINES}-{MAX_LINES} lines")
        problem = _make_long(rng, rng.randint(*parts), f"synth/long/{len(out)}")
        if problem is not None:
            out.append(problem)
    return out


def load_long(options: dict[str, str]) -> list[Problem]:
    """``synth:long`` with the options ``size``, ``seed`` and ``parts`` (``A-B``) already parsed."""
    unknown = set(options) - {"size", "seed", "parts"}
    if unknown:
        raise CodeprmError(f"synth:long: unknown option '{sorted(unknown)[0]}'; known: size, seed, parts")
    size = synth._parse_int("size", options["size"], 1, 10000) if "size" in options else 60
    seed = synth._parse_int("seed", options["seed"], 0, 2**31) if "seed" in options else 2
    lo_text, _, hi_text = options.get("parts", "3-5").partition("-")
    lo = synth._parse_int("parts", lo_text, 2, 6)
    hi = synth._parse_int("parts", hi_text, lo, 6) if hi_text else lo
    return generate_long(size, seed, (lo, hi))


def load_long_suite(arg: str = "") -> list[Problem]:
    """Problems of ``synth:long[?size=N&parts=A-B&seed=S]`` (``load_benchmark`` routes them here)."""
    return load_long(dict(parse_qsl(arg.partition("?")[2], keep_blank_values=True)))
