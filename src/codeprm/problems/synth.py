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
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl

from codeprm.errors import CodeprmError
from codeprm.problems.model import Problem, TestCase

SPLITS = ("train", "heldout")
DEFAULT_SIZE = {"train": 2000, "heldout": 200}
DEFAULT_SEED = {"train": 0, "heldout": 1}  # different streams, so the two splits share no draws
MIN_DIFFICULTY, MAX_DIFFICULTY = 2, 6
HELDOUT_BUCKETS = 5  # one signature bucket in five is held out
N_TESTS = 24
# A reference that returns the same thing for most inputs makes weak tests (mutants survive them).
MIN_DISTINCT_OUTPUTS = 5
MAX_SAME_OUTPUT = 0.4  # largest share of tests that may expect one same output
# Parts that are redundant together (letters that are not spaces; negate then abs): at most one per group.
EXCLUSIVE_GROUPS = [
    {"negate", "abs", "square"}, {"even", "odd"}, {"pos", "neg"}, {"gt_k", "lt_k", "ge_k", "ne_k"},
    {"to_upper", "to_lower", "swapcase"}, {"digit", "alpha", "upper", "lower", "vowel", "consonant", "nonspace"},
    {"w_upper", "w_cap", "w_first"}, {"palindrome", "vowel_start", "numeric"}, {"even_pos", "odd_pos"},
    {"stop_eq_k", "stop_neg", "stop_gt_k", "stop_space", "stop_dot", "stop_digit", "stop_numeric", "stop_len_k"},
]


@dataclass(frozen=True)
class Step:
    """One composed step: its signature key, its docstring line, and its code lines."""

    key: str
    phrase: str
    lines: tuple[str, ...]  # code at the current indentation; a line starting with ">" is one level deeper
    opens_block: bool = False  # later steps go one level deeper (a filter's ``if``, a loop)
    uses_k: bool = False


@dataclass
class Composition:
    domain: str
    iterate: Step
    ops: list[Step]
    accumulate: "Accumulator"
    post: Step | None
    extra_lines: list[Step] = field(default_factory=list)

    @property
    def signature(self) -> str:
        keys = [self.domain, self.iterate.key, *(s.key for s in self.ops), self.accumulate.key]
        return "|".join(keys + ([self.post.key] if self.post else []))

    @property
    def difficulty(self) -> int:
        return 2 + len(self.ops) + (self.post is not None)

    @property
    def uses_k(self) -> bool:
        steps = [self.iterate, *self.ops, self.accumulate.step, *([self.post] if self.post else [])]
        return any(s.uses_k for s in steps)


@dataclass(frozen=True)
class Accumulator:
    key: str
    var: str | None  # the accumulated variable (None: the value is returned from inside the loop)
    init: str | None
    update: str  # with {v}
    final: str
    phrase: str
    kind: str  # "num", "list", "str", "any": which post steps fit
    uses_k: bool = False

    @property
    def step(self) -> Step:
        return Step(self.key, self.phrase, (), uses_k=self.uses_k)


# ----------------------------------------------------------------------------------------------------
# Parts. ``{v}`` is the element variable, ``{c}`` a constant drawn per problem.

def _filter(key: str, cond: str, phrase: str, uses_k: bool = False) -> Step:
    return Step(key, phrase, (f"if {cond}:",), opens_block=True, uses_k=uses_k)


def _assign(key: str, expr: str, phrase: str, uses_k: bool = False) -> Step:
    return Step(key, phrase, (f"{{v}} = {expr}",), uses_k=uses_k)


def _exit(key: str, cond: str, phrase: str, uses_k: bool = False) -> Step:
    return Step(key, phrase, (f"if {cond}:", ">break"), uses_k=uses_k)


INT_FILTERS = [
    _filter("even", "{v} % 2 == 0", "Keep only even {v}."),
    _filter("odd", "{v} % 2 == 1", "Keep only odd {v}."),
    _filter("gt_k", "{v} > k", "Keep only {v} greater than k.", True),
    _filter("lt_k", "{v} < k", "Keep only {v} less than k.", True),
    _filter("ge_k", "{v} >= k", "Keep only {v} that are at least k.", True),
    _filter("ne_k", "{v} != k", "Skip {v} equal to k.", True),
    _filter("pos", "{v} > 0", "Keep only positive {v}."),
    _filter("neg", "{v} < 0", "Keep only negative {v}."),
    _filter("mult", "{v} % {c} == 0", "Keep only {v} that are multiples of {c}."),
]
INT_TRANSFORMS = [
    _assign("mul", "{v} * {c}", "Multiply {v} by {c}."),
    _assign("add_k", "{v} + k", "Add k to {v}.", True),
    _assign("sub", "{v} - {c}", "Subtract {c} from {v}."),
    _assign("square", "{v} * {v}", "Square {v}."),
    _assign("abs", "abs({v})", "Replace {v} by its absolute value."),
    _assign("half", "{v} // 2", "Halve {v}, rounding down."),
    _assign("mod", "{v} % {c}", "Replace {v} by its remainder modulo {c}."),
    _assign("negate", "-{v}", "Negate {v}."),
]
INT_EXITS = [
    _exit("stop_eq_k", "{v} == k", "Stop at the first {v} equal to k.", True),
    _exit("stop_neg", "{v} < 0", "Stop at the first negative {v}."),
    _exit("stop_gt_k", "{v} > k", "Stop at the first {v} greater than k.", True),
]
INDEX_OPS = [  # only after an iteration that provides the position i
    _filter("even_pos", "i % 2 == 0", "Keep only {v} at even positions i."),
    _filter("odd_pos", "i % 2 == 1", "Keep only {v} at odd positions i."),
    _assign("add_pos", "{v} + i", "Add the position i to {v}."),
    _assign("mul_pos", "{v} * i", "Multiply {v} by its position i."),
]
CHAR_FILTERS = [
    _filter("digit", "{v}.isdigit()", "Keep only digit characters {v}."),
    _filter("alpha", "{v}.isalpha()", "Keep only letters {v}."),
    _filter("upper", "{v}.isupper()", "Keep only uppercase {v}."),
    _filter("lower", "{v}.islower()", "Keep only lowercase {v}."),
    _filter("vowel", '{v} in "aeiou"', "Keep only lowercase vowels {v}."),
    _filter("consonant", '{v} not in "aeiou"', "Skip lowercase vowels {v}."),
    _filter("nonspace", '{v} != " "', "Skip spaces."),
]
CHAR_TRANSFORMS = [
    _assign("to_upper", "{v}.upper()", "Make {v} uppercase."),
    _assign("to_lower", "{v}.lower()", "Make {v} lowercase."),
    _assign("swapcase", "{v}.swapcase()", "Swap the case of {v}."),
    _assign("double", "{v} * 2", "Repeat {v} twice."),
]
CHAR_EXITS = [
    _exit("stop_space", '{v} == " "', "Stop at the first space."),
    _exit("stop_dot", '{v} == "."', "Stop at the first period."),
    _exit("stop_digit", "{v}.isdigit()", "Stop at the first digit."),
]
WORD_FILTERS = [
    _filter("longer_k", "len({v}) > k", "Keep only words {v} longer than k.", True),
    _filter("shorter_k", "len({v}) <= k", "Keep only words {v} of length at most k.", True),
    _filter("palindrome", "{v} == {v}[::-1]", "Keep only words {v} that read the same backwards."),
    _filter("vowel_start", '{v}[0] in "aeiou"', "Keep only words {v} starting with a lowercase vowel."),
    _filter("numeric", "{v}.isdigit()", "Keep only words {v} made of digits."),
]
WORD_TRANSFORMS = [
    _assign("w_upper", "{v}.upper()", "Make {v} uppercase."),
    _assign("w_reverse", "{v}[::-1]", "Reverse {v}."),
    _assign("w_first", "{v}[0]", "Keep only the first character of {v}."),
    _assign("w_cap", "{v}.capitalize()", "Capitalize {v}."),
]
WORD_EXITS = [
    _exit("stop_numeric", "{v}.isdigit()", "Stop at the first word made of digits."),
    _exit("stop_len_k", "len({v}) == k", "Stop at the first word of length k.", True),
]

# domain -> (parameters, iterations, filters, transforms, exits, accumulators-kind)
ITERATIONS: dict[str, list[tuple[Step, str, bool]]] = {  # (step, element variable, gives position i)
    "list": [
        (Step("each", "Go through each number x in xs.", ("for x in xs:",), opens_block=True), "x", False),
        (Step("enum", "Go through each number x in xs with its position i.", ("for i, x in enumerate(xs):",), opens_block=True), "x", True),
        (Step("diffs", "Go through x = xs[i] - xs[i - 1] for each position i from 1.", ("for i in range(1, len(xs)):", ">x = xs[i] - xs[i - 1]"), opens_block=True), "x", True),
        (Step("pair_sum", "Go through x = xs[i] + xs[j] for every pair of positions i < j.", ("for i in range(len(xs)):", ">for j in range(i + 1, len(xs)):", ">>x = xs[i] + xs[j]"), opens_block=True), "x", False),
        (Step("pair_gap", "Go through x = abs(xs[i] - xs[j]) for every pair of positions i < j.", ("for i in range(len(xs)):", ">for j in range(i + 1, len(xs)):", ">>x = abs(xs[i] - xs[j])"), opens_block=True), "x", False),
    ],
    "num": [
        (Step("digits", "Go through the decimal digits d of n, from the last one.", ("while n > 0:", ">d = n % 10", ">n = n // 10"), opens_block=True), "d", False),
        (Step("upto", "Go through each x from 1 to n.", ("for x in range(1, n + 1):",), opens_block=True), "x", False),
    ],
    "chars": [
        (Step("each_char", "Go through each character ch of s.", ("for ch in s:",), opens_block=True), "ch", False),
        (Step("enum_char", "Go through each character ch of s with its position i.", ("for i, ch in enumerate(s):",), opens_block=True), "ch", True),
    ],
    "words": [
        (Step("each_word", "Go through each word w of s (split on whitespace).", ("for w in s.split():",), opens_block=True), "w", False),
    ],
}
PARAMS = {"list": "xs", "num": "n", "chars": "s", "words": "s"}
PARTS: dict[str, tuple[list[Step], list[Step], list[Step]]] = {
    "list": (INT_FILTERS, INT_TRANSFORMS, INT_EXITS),
    # digits and 1..n are never negative: sign parts would be dead code there
    "num": ([f for f in INT_FILTERS if f.key not in ("pos", "neg")] + [_filter("divides", "n % x == 0", "Keep only x that divide n.")],
            [t for t in INT_TRANSFORMS if t.key != "abs"], [e for e in INT_EXITS if e.key != "stop_neg"]),
    "chars": (CHAR_FILTERS, CHAR_TRANSFORMS, CHAR_EXITS),
    "words": (WORD_FILTERS, WORD_TRANSFORMS, WORD_EXITS),
}
NUM_ACCUMULATORS = [
    Accumulator("sum", "total", "total = 0", "total += {v}", "return total", "Return the sum of the values (0 if none).", "num"),
    Accumulator("count", "count", "count = 0", "count += 1", "return count", "Return how many values there are.", "num"),
    Accumulator("collect", "result", "result = []", "result.append({v})", "return result", "Return the values as a list, in order.", "list"),
    # max/min start from k, not 0: a constant start makes the answer the same for most inputs
    Accumulator("max", "best", "best = k", "best = max(best, {v})", "return best", "Return the largest value, or k if that is larger.", "num", True),
    Accumulator("min", "low", "low = k", "low = min(low, {v})", "return low", "Return the smallest value, or k if that is smaller.", "num", True),
    Accumulator("product", "prod", "prod = 1", "prod *= {v}", "return prod", "Return the product of the values (1 if none).", "num"),
    Accumulator("first", None, None, "return {v}", "return -1", "Return the first value, or -1 if there is none.", "any"),
    Accumulator("last", "last", "last = None", "last = {v}", "return last", "Return the last value, or None if there is none.", "any"),
]
STR_ACCUMULATORS = [
    Accumulator("join", "out", 'out = ""', "out += {v}", "return out", "Return the values joined into one string.", "str"),
    Accumulator("rjoin", "out", 'out = ""', "out = {v} + out", "return out", "Return the values joined into one string in reverse order.", "str"),
    Accumulator("count", "count", "count = 0", "count += 1", "return count", "Return how many values there are.", "num"),
    Accumulator("collect", "result", "result = []", "result.append({v})", "return result", "Return the values as a list, in order.", "list"),
    Accumulator("first", None, None, "return {v}", 'return ""', 'Return the first value, or "" if there is none.', "any"),
]
WORD_ACCUMULATORS = STR_ACCUMULATORS[:] + [
    Accumulator("len_sum", "total", "total = 0", "total += len({v})", "return total", "Return the total length of the values.", "num"),
]
ACCUMULATORS = {"list": NUM_ACCUMULATORS, "num": NUM_ACCUMULATORS, "chars": STR_ACCUMULATORS, "words": WORD_ACCUMULATORS}
POSTS = {  # accumulator kind -> steps on variable {a}
    "num": [
        Step("p_double", "Double the result.", ("{a} = {a} * 2",)),
        Step("p_negate", "Negate the result.", ("{a} = -{a}",)),
        Step("p_add_k", "Add k to the result.", ("{a} = {a} + k",), uses_k=True),
    ],
    "list": [
        Step("p_sort", "Sort the result in increasing order.", ("{a}.sort()",)),
        Step("p_reverse", "Reverse the result.", ("{a}.reverse()",)),
    ],
    "str": [
        Step("p_upper", "Make the result uppercase.", ("{a} = {a}.upper()",)),
        Step("p_reverse_str", "Reverse the result.", ("{a} = {a}[::-1]",)),
    ],
    "any": [],
}
CONSTANTS = {"mult": (3, 4, 5), "mul": (2, 3, 10), "sub": (1, 2, 5), "mod": (3, 7, 10)}
DOMAIN_WEIGHTS = {"list": 5, "num": 2, "chars": 3, "words": 2}


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
    if arg.partition("?")[0] == "long":  # the long suite (16-40 lines), see synth_long.py
        from codeprm.problems.synth_long import load_long

        return load_long(dict(parse_qsl(arg.partition("?")[2], keep_blank_values=True)))
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
