"""A generated suite of small completion-style problems, composed from parts.

Each problem is a function whose docstring lists its steps one per line, and whose reference body does
them one per line: an iteration (over a list, characters, words, digits, a range, index pairs or
consecutive differences), up to three body operations (filters, transforms, index arithmetic, early
exits), an accumulator (sum, count, collect, max, min, product, first, last, join) and an optional
post-processing step. ``difficulty`` is the number of composed steps (2 to 6).

The *composition signature* is the sequence of part keys with the constants left out. A signature's
hash decides its split, so ``heldout`` problems use compositions that never occur in ``train``.
Expected outputs come from running the reference in-process at generation time (it is our own code).

``load_synth("heldout?size=200&difficulty=2-4&seed=0")``: options ``size``, ``difficulty`` (``N`` or
``A-B``) and ``seed``. The same options always give the same suite.
"""

from __future__ import annotations

import collections
import hashlib
import random
from typing import Any, Callable
from urllib.parse import parse_qsl

from codeprm.errors import CodeprmError
from codeprm.problems.model import Problem, TestCase
from codeprm.problems.synth_parts import (ACCUMULATORS, CONSTANTS, DOMAIN_WEIGHTS, EXCLUSIVE_GROUPS, INDEX_OPS, ITERATIONS,
                                            PARAMS, PARTS, POSTS, Accumulator, Composition, Step)

SPLITS = ("train", "heldout")
DEFAULT_SIZE = {"train": 2000, "heldout": 200}
DEFAULT_SEED = {"train": 0, "heldout": 1}  # different streams, so the two splits share no draws
MIN_DIFFICULTY, MAX_DIFFICULTY = 2, 6
HELDOUT_BUCKETS = 5  # one signature bucket in five is held out
N_TESTS = 24
# A reference that returns the same thing for most inputs makes weak tests (mutants survive them).
MIN_DISTINCT_OUTPUTS = 5
MAX_SAME_OUTPUT = 0.4  # largest share of tests that may expect one same output


# ----------------------------------------------------------------------------------------------------
# Composition and rendering.

def _draw_composition(rng: random.Random, n_ops: int, with_post: bool) -> Composition | None:
    """A random composition with ``n_ops`` body operations, or None when the draw has dead code."""
    domain = rng.choices(list(DOMAIN_WEIGHTS), weights=list(DOMAIN_WEIGHTS.values()))[0]
    iterate, var, has_pos = rng.choice(ITERATIONS[domain])
    filters, transforms, exits = PARTS[domain]
    ops: list[Step] = []
    if has_pos and iterate.key in ("enum", "enum_char"):
        n_ops = max(n_ops, 1)  # an enumerate without a use of i is just "each"
        index_ops = INDEX_OPS if domain == "list" else INDEX_OPS[:2]
        ops.append(rng.choice(index_ops))
    while len(ops) < n_ops:
        kind = rng.choices(("filter", "transform", "exit"), weights=(4, 4, 1))[0]
        if kind == "exit" and iterate.key.startswith("pair"):
            continue  # a break would leave only the inner loop, which "stop" does not describe
        pool = {"filter": filters, "transform": transforms, "exit": exits}[kind]
        step = rng.choice(pool)
        if any(step.key in group and any(s.key in group for s in ops) for group in EXCLUSIVE_GROUPS) or step.key in (s.key for s in ops):
            continue
        ops.append(step)
    rng.shuffle(ops)
    accumulate = rng.choice(ACCUMULATORS[domain])
    if "{v}" not in accumulate.update:
        # With "count" nothing reads the value after the last filter/exit on it: a transform there, or a
        # computed value (x = xs[i] - xs[i - 1]) that no filter reads, would be dead code.
        readers = [i for i, s in enumerate(ops) if "{v}" in s.lines[0] and (s.opens_block or s.lines[-1] == ">break")]
        last = readers[-1] if readers else -1
        if any(not s.opens_block and s.lines[-1] != ">break" for s in ops[last + 1:]) or (len(iterate.lines) > 1 and last == -1):
            return None
    posts = POSTS[accumulate.kind]
    post = rng.choice(posts) if with_post and posts else None
    comp = Composition(domain, iterate, ops, accumulate, post)
    return _bind(comp, var, rng)


def _bind(comp: Composition, var: str, rng: random.Random) -> Composition:
    """Fill the element variable and constants into every step."""

    def fill(step: Step) -> Step:
        c = rng.choice(CONSTANTS[step.key]) if step.key in CONSTANTS else 0
        acc = comp.accumulate.var or ""
        lines = tuple(line.format(v=var, c=c, a=acc) for line in step.lines)
        return Step(step.key, step.phrase.format(v=var, c=c), lines, step.opens_block, step.uses_k)

    acc = comp.accumulate
    acc = Accumulator(acc.key, acc.var, acc.init, acc.update.format(v=var), acc.final, acc.phrase, acc.kind, acc.uses_k)
    return Composition(comp.domain, fill(comp.iterate), [fill(s) for s in comp.ops], acc, fill(comp.post) if comp.post else None)


def _render(comp: Composition, name: str) -> tuple[list[str], list[str], str]:
    """(signature parameters, docstring lines, body) of a composition."""
    params = [PARAMS[comp.domain]] + (["k"] if comp.uses_k else [])
    body: list[str] = []
    depth = 1

    def emit(step: Step) -> None:
        nonlocal depth
        for line in step.lines:
            extra = len(line) - len(line.lstrip(">"))
            body.append("    " * (depth + extra) + line.lstrip(">"))
        if step.opens_block:  # later steps go inside the block the last line is in (or opens)
            last = step.lines[-1]
            depth += len(last) - len(last.lstrip(">")) + last.endswith(":")

    acc = comp.accumulate
    if acc.init:
        body.append("    " + acc.init)
    emit(comp.iterate)
    for op in comp.ops:
        emit(op)
    body.append("    " * depth + acc.update)
    if comp.post:
        depth = 1
        emit(comp.post)
    body.append("    " + acc.final)
    phrases = [comp.iterate.phrase, *(op.phrase for op in comp.ops), acc.phrase]
    if comp.post:
        phrases.append(comp.post.phrase)
    return params, phrases, "\n".join(body) + "\n"


def _name(comp: Composition) -> str:
    # the iteration key keeps names clear of builtins the body calls (a function named max calling max)
    return "_".join([comp.accumulate.key, comp.iterate.key, *(op.key for op in comp.ops)])[:48]


# ----------------------------------------------------------------------------------------------------
# Test inputs: seeded random values that hit the boundaries the parts test (values equal to k, zero,
# negatives, empty inputs, spaces, digits).

_WORDS = ("level", "noon", "abc", "Hello", "42", "a", "eye", "apple", "Tree", "go", "7", "otto", "idea", "up", "2024")
_CHARS = "abcdeiouXYZAE 019.!"


def _random_input(domain: str, rng: random.Random, uses_k: bool, edge: int | None, iterate: str) -> list[Any]:
    pairs = iterate.startswith("pair")
    k = rng.randint(-3, 8) if domain == "list" else rng.randint(0, 9) if domain == "num" else rng.randint(1, 5)
    if domain == "list":
        edges = [[], [k], [0], [-2, -5, -1], [k, k, 3]]
        if edge is not None and edge < len(edges):
            xs = edges[edge]
        else:
            xs = [rng.randint(-6, 12) for _ in range(rng.randint(1, 6 if pairs else 8))]
            # values at the boundaries the filters test (k, 0) make off-by-one mutants visible
            if uses_k and rng.random() < 0.5:
                xs.insert(rng.randint(0, len(xs)), k)
            if rng.random() < 0.3:
                xs.insert(rng.randint(0, len(xs)), 0)
        value: Any = list(xs)
    elif domain == "num":
        edges = [0, 7, 10, 1005]
        value = edges[edge] if edge is not None and edge < len(edges) else rng.randint(1, 40) if iterate == "upto" else rng.randint(10, 999999)
    elif domain == "chars":
        edges = ["", " ", "aeiou", "AB c.1 d"]
        value = edges[edge] if edge is not None and edge < len(edges) else "".join(rng.choice(_CHARS) for _ in range(rng.randint(1, 12)))
    else:
        edges = ["", "abc", " noon  42 Tree "]
        if edge is not None and edge < len(edges):
            value = edges[edge]
        else:
            value = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 6)))
    return [value, k] if uses_k else [value]


def _compile(params: list[str], body: str, name: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {}
    exec(f"def {name}({', '.join(params)}):\n{body}", namespace)  # our own generated reference
    return namespace[name]


def _make_problem(rng: random.Random, comp: Composition, pid: str) -> Problem | None:
    name = _name(comp)
    params, phrases, body = _render(comp, name)
    if len(body.splitlines()) < 4:
        return None
    func = _compile(params, body, name)
    tests: list[tuple[list[Any], Any]] = []  # (args, expected); TestCases are built once accepted
    seen: set[str] = set()
    for attempt in range(N_TESTS * 4):
        args = _random_input(comp.domain, rng, comp.uses_k, attempt if attempt < 6 else None, comp.iterate.key)
        if repr(args) in seen:
            continue
        seen.add(repr(args))
        try:
            expected = func(*(list(a) if isinstance(a, list) else a for a in args))
        except Exception:  # a composition that can fail on valid input (e.g. s[0] of "") is dropped
            return None
        if isinstance(expected, int) and abs(expected) > 10**12:
            return None  # products of squares explode; such numbers teach nothing and bloat prompts
        tests.append((args, expected))
        if len(tests) == N_TESTS:
            break
    outputs = collections.Counter(repr(expected) for _, expected in tests)
    if len(outputs) < MIN_DISTINCT_OUTPUTS or outputs.most_common(1)[0][1] > MAX_SAME_OUTPUT * len(tests):
        return None
    if comp.uses_k:  # the answer must depend on the data, not on k alone (min of values > k is just k)
        empty = {"list": [], "num": 0, "chars": "", "words": ""}[comp.domain]
        same = sum(func(empty, args[1]) == expected for args, expected in tests)
        if same > MAX_SAME_OUTPUT * len(tests):
            return None
    example_args, example_out = next((t for t in tests[5:] if t[1] not in (None, 0, "", [])), tests[-1])
    call = f"{name}({', '.join(repr(a) for a in example_args)})"
    doc = "\n    ".join([*phrases, f">>> {call}", repr(example_out)])
    prompt = f"def {name}({', '.join(params)}):\n    \"\"\"{doc}\n    \"\"\"\n"
    # model_construct skips re-validating values we built ourselves (plain lists, ints and strings),
    # which is most of the load time of a 2000-problem suite.
    cases = [TestCase.model_construct(kind="call", args=args, kwargs={}, expected=expected) for args, expected in tests]
    return Problem(id=pid, prompt=prompt, entry_point=name, tests=cases, reference=body, time_limit_s=1.0,
                   style="completion", source="synth")


def split_of(signature: str) -> str:
    """The split a composition signature belongs to (a stable hash, the same in every process)."""
    bucket = int(hashlib.sha256(signature.encode()).hexdigest(), 16) % HELDOUT_BUCKETS
    return "heldout" if bucket == 0 else "train"


def generate(split: str = "train", size: int | None = None, difficulty: tuple[int, int] = (MIN_DIFFICULTY, MAX_DIFFICULTY), seed: int | None = None) -> list[Problem]:
    """``size`` problems of one split with difficulty in the inclusive range; deterministic in its arguments."""
    return [problem for problem, _ in generate_with_signatures(split, size, difficulty, seed)]


def generate_with_signatures(split: str = "train", size: int | None = None, difficulty: tuple[int, int] = (MIN_DIFFICULTY, MAX_DIFFICULTY), seed: int | None = None) -> list[tuple[Problem, str]]:
    """Like :func:`generate`, with each problem's composition signature."""
    size = DEFAULT_SIZE[split] if size is None else size
    seed = DEFAULT_SEED[split] if seed is None else seed
    rng = random.Random(f"codeprm-synth:{split}:{seed}")
    lo, hi = difficulty
    problems: list[tuple[Problem, str]] = []
    while len(problems) < size:
        # Difficulties cycle through the range, so the suite (and any prefix of it) is balanced: drawing
        # a random target per attempt would favour the easy ones, which are rejected less often.
        target = lo + len(problems) % (hi - lo + 1)
        with_post = target - 2 > 0 and rng.random() < 0.3
        comp = _draw_composition(rng, target - 2 - with_post, with_post)
        if comp is None or comp.difficulty != target or split_of(comp.signature) != split:
            continue
        problem = _make_problem(rng, comp, f"synth/{split}/{len(problems)}")
        if problem is not None:
            problems.append((problem, comp.signature))
    return problems


def _parse_options(arg: str) -> tuple[str, dict[str, str]]:
    split, _, query = arg.partition("?")
    split = split or "train"
    if split not in SPLITS:
        raise CodeprmError(f"synth: unknown split '{split}'; use one of {', '.join(SPLITS)}")
    options = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    unknown = set(options) - {"size", "difficulty", "seed"}
    if unknown:
        raise CodeprmError(f"synth: unknown option '{sorted(unknown)[0]}'; known: size, difficulty, seed")
    return split, options


def _parse_int(name: str, text: str, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CodeprmError(f"synth: option '{name}' must be an integer, got '{text}'") from None
    if not lo <= value <= hi:
        raise CodeprmError(f"synth: option '{name}' must be in {lo}..{hi}, got {value}")
    return value


def load_synth(arg: str = "") -> list[Problem]:
    """Problems of ``synth:SPLIT[?size=N&difficulty=A-B&seed=S]``; a bad option raises CodeprmError."""
    split, options = _parse_options(arg)
    size = _parse_int("size", options["size"], 1, 100000) if "size" in options else None
    seed = _parse_int("seed", options["seed"], 0, 2**31) if "seed" in options else None
    difficulty = (MIN_DIFFICULTY, MAX_DIFFICULTY)
    if "difficulty" in options:
        lo_text, _, hi_text = options["difficulty"].partition("-")
        lo = _parse_int("difficulty", lo_text, MIN_DIFFICULTY, MAX_DIFFICULTY)
        hi = _parse_int("difficulty", hi_text, MIN_DIFFICULTY, MAX_DIFFICULTY) if hi_text else lo
        if hi < lo:
            raise CodeprmError(f"synth: option 'difficulty' range is empty: {options['difficulty']}")
        difficulty = (lo, hi)
    return generate(split, size, difficulty, seed)
