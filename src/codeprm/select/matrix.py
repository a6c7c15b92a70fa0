"""The execution matrix of a set of problems: samples x plausible tests (pass), samples x generated inputs
(output code), samples x public examples (pass), samples -> hidden verdict. Built once in the sandbox (:mod:`codeprm.select.execute`) and
cached; the selection methods read it as plain arrays.

The three kinds of test stay apart: hidden tests (the judge, never shown to a method except as the
oracle's ``correct``), plausible tests (model output) and public examples (the docstring's examples, part
of the problem statement, :mod:`codeprm.problems.examples`).

Identical programs (after the program rule cuts each completion) run once; a sample points at its
program's row, so duplicates still count as the samples they are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from codeprm.problems.model import Problem, TestCase
from codeprm.programs import program_text
from codeprm.select.execute import PROBE, Cache, PlausibleSuite, cell_key, probe_program, read_fingerprint, run_staged


@dataclass
class ProblemMatrix:
    problem_id: str
    sample_program: np.ndarray  # (n_samples,) row of each sample's program
    passes: np.ndarray  # (n_programs, n_claims) bool: the program passes the claimed output
    outputs: np.ndarray  # (n_programs, n_inputs) int: equal codes = equal outputs, -1 = no output
    correct: np.ndarray  # (n_programs,) bool: passes every hidden test
    programs: list[str] = field(default_factory=list)
    claims: list[TestCase] = field(default_factory=list)
    public: np.ndarray | None = None  # (n_programs, n_examples) bool: the program passes public example e
    examples: list[TestCase] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return len(self.sample_program)

    def arrays(self, samples: np.ndarray | None = None, extra: dict | None = None) -> dict[str, np.ndarray]:
        """Sample-level arrays (rows = the chosen samples, duplicates included) for the methods."""
        rows = self.sample_program if samples is None else self.sample_program[samples]
        public = np.zeros((len(self.correct), 0), dtype=bool) if self.public is None else self.public
        out = {"passes": self.passes[rows], "outputs": self.outputs[rows], "correct": self.correct[rows],
               "public": public[rows]}
        for name, values in (extra or {}).items():
            values = np.asarray(values, dtype=float)
            out[name] = values if samples is None else values[samples]
        return out


@dataclass
class Cost:
    runs: int = 0  # sandbox runs (one program, one slice of tests)
    cells: int = 0  # (program, test) pairs executed
    cached: int = 0  # (program, suite) pairs read from the cache
    seconds: float = 0.0
    timeouts: int = 0
    skipped: int = 0  # cells left out after a program timed out too often (counted as failing)

    def as_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass
class Limits:
    hidden_time_limit_s: float = 1.0
    plausible_time_limit_s: float = 0.25
    max_timeouts: int = 3
    hidden_stages: tuple[int, ...] = (1, 3)
    plausible_stages: tuple[int, ...] = (4, 16)
    chunk: int = 256  # programs per batch between cache writes


def _unique(programs: list[str]) -> tuple[list[str], np.ndarray]:
    index: dict[str, int] = {}
    rows = [index.setdefault(p, len(index)) for p in programs]
    return list(index), np.asarray(rows, dtype=np.int64)


def build_matrices(problems: list[Problem], completions: dict[str, list[str]], tests: dict[str, list[TestCase]],
                   sandbox, cache: Cache, limits: Limits | None = None, progress=None,
                   public: dict[str, list[TestCase]] | None = None) -> tuple[list[ProblemMatrix], Cost]:
    """Run what the cache lacks and assemble one matrix per problem (problems without completions are left
    out). ``public``: each problem's public examples (None: not run, the ``public`` arrays are empty).
    ``progress(done, total)`` is called as batches finish."""
    limits = limits or Limits()
    cost = Cost()
    start = time.monotonic()
    plan = []
    for problem in problems:
        if not completions.get(problem.id):
            continue
        programs, rows = _unique([program_text(problem, c) for c in completions[problem.id]])
        suite = PlausibleSuite.from_tests(tests.get(problem.id, []))
        examples = (public or {}).get(problem.id, [])
        plan.append((problem, programs, rows, suite, PlausibleSuite(list(examples), [], [])))

    hidden_jobs, plausible_jobs = [], []
    for problem, programs, _, suite, shown in plan:
        graded = problem.model_copy(update={"time_limit_s": limits.hidden_time_limit_s})
        for program in programs:
            key = cell_key("hidden", problem.id, program, "", limits.hidden_time_limit_s)
            if cache.get(key) is None:
                hidden_jobs.append((key, program, graded))
        # plausible tests and public examples run the same way (claims judged with Python's ==, plus the
        # output probe), each cached as its own kind
        for kind, claims in (("plausible", suite), ("public", shown)):
            if not claims.claims:
                continue
            probe = Problem(id=problem.id, prompt="", entry_point=PROBE, tests=claims.sandbox_tests(),
                            time_limit_s=limits.plausible_time_limit_s, style="instruct")
            digest = claims.digest()
            for program in programs:
                pkey = cell_key(kind, problem.id, program, digest, limits.plausible_time_limit_s)
                if cache.get(pkey) is None:
                    plausible_jobs.append((pkey, probe_program(program, problem.entry_point or ""), probe, len(claims.claims)))
    total = len(hidden_jobs) + len(plausible_jobs)
    cost.cached = sum(len(p[1]) * (1 + bool(p[3].claims) + bool(p[4].claims)) for p in plan) - total
    done = 0
    for lo in range(0, len(hidden_jobs), limits.chunk):
        batch = hidden_jobs[lo:lo + limits.chunk]
        cells = run_staged(sandbox, [(prog, prob) for _, prog, prob in batch], list(limits.hidden_stages),
                           stop=lambda statuses: any(s != "pass" for s in statuses))
        values = []
        for (key, _, _), row in zip(batch, cells):
            statuses = [s for s, _ in row]
            _count(cost, statuses)
            values.append((key, {"passed": all(s == "pass" for s in statuses),
                                 "status": next((s for s in statuses if s != "pass"), "pass")}))
        cache.put_many(values)
        done += len(batch)
        if progress:
            progress(done, total)
    for lo in range(0, len(plausible_jobs), limits.chunk):
        batch = plausible_jobs[lo:lo + limits.chunk]
        cells = run_staged(sandbox, [(prog, prob) for _, prog, prob, _ in batch], list(limits.plausible_stages),
                           stop=lambda statuses: statuses.count("timeout") >= limits.max_timeouts)
        values = []
        for (key, _, _, n_claims), row in zip(batch, cells):
            _count(cost, [s for s, _ in row])
            values.append((key, {"passes": "".join("1" if s == "pass" else "0" for s, _ in row[:n_claims]),
                                 "outputs": [read_fingerprint(s, d) for s, d in row[n_claims:]]}))
        cache.put_many(values)
        done += len(batch)
        if progress:
            progress(done, total)
    cost.seconds = time.monotonic() - start
    if cost.cells:
        cache.record_fill(cost.as_dict())

    matrices = []
    for problem, programs, rows, suite, shown in plan:
        hidden = [cache.get(cell_key("hidden", problem.id, p, "", limits.hidden_time_limit_s)) for p in programs]
        correct = np.array([h["passed"] for h in hidden], dtype=bool)
        passes = np.zeros((len(programs), len(suite.claims)), dtype=bool)
        codes = [["!none"] * len(suite.inputs) for _ in programs]
        for i, cell in enumerate(_claim_cells(cache, "plausible", problem, programs, suite, limits)):
            passes[i] = [c == "1" for c in cell["passes"]]
            codes[i] = cell["outputs"]
        shown_passes = np.zeros((len(programs), len(shown.claims)), dtype=bool)
        for i, cell in enumerate(_claim_cells(cache, "public", problem, programs, shown, limits)):
            shown_passes[i] = [c == "1" for c in cell["passes"]]
        matrices.append(ProblemMatrix(problem.id, rows, passes, output_codes(codes, len(suite.inputs)), correct,
                                      programs=programs, claims=suite.claims, public=shown_passes,
                                      examples=shown.claims))
    return matrices, cost


def _claim_cells(cache: Cache, kind: str, problem: Problem, programs: list[str], suite: PlausibleSuite,
                 limits: Limits) -> list[dict]:
    """The cached cells of ``programs`` on a suite of claims (none when the suite has no claims)."""
    if not suite.claims:
        return []
    digest = suite.digest()
    return [cache.get(cell_key(kind, problem.id, p, digest, limits.plausible_time_limit_s)) for p in programs]


def _count(cost: Cost, statuses: list[str]) -> None:
    ran = [s for s in statuses if s != "skipped"]
    cost.cells += len(ran)
    cost.runs += 1
    cost.timeouts += statuses.count("timeout")
    cost.skipped += len(statuses) - len(ran)


def output_codes(fingerprints: list[list[str]], n_inputs: int) -> np.ndarray:
    """Fingerprint strings -> small ints per column; anything that is not a value (``!status``) -> -1."""
    out = np.full((len(fingerprints), n_inputs), -1, dtype=np.int64)
    for c in range(n_inputs):
        seen: dict[str, int] = {}
        for r, row in enumerate(fingerprints):
            code = row[c]
            if code.startswith("fp:"):
                out[r, c] = seen.setdefault(code, len(seen))
    return out
