"""The parts the generated suite composes: iterations, filters, transforms, early exits, accumulators
and post-processing steps, per input domain, each with its docstring line and code lines.

``synth`` draws compositions of these parts; adding a part here adds it to every suite built from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
