"""Labelers end to end: the fake policy (known bug lines), the real sandbox, in-memory caches."""

import math
import pytest

from codeprm.errors import CodeprmError
from codeprm.labels.labelers import BinaryLabeler, LinearLabeler, MCLabeler, VerdictUnknown, make_labeler
from codeprm.labels.lines import prefix_text, scored_indices, split_lines
from codeprm.labels.mutation import MutationLabeler
from codeprm.labels.probe import Judge
from codeprm.labels.cache import ProbeCache
from codeprm.labels.tests.fakes import SPECS, FakePolicy
from codeprm.policy.base import Completion


def test_binary_and_linear_find_the_bug_line(make_prober):
    prober = make_prober(policy=FakePolicy(p_bug=0.0))  # rollouts from scratch always pass: f(0) = 1
    binary, linear = BinaryLabeler(prober.judge, prober), LinearLabeler(prober.judge, prober)
    for spec in SPECS:
        b, lin = binary.label(spec.problem, spec.buggy), linear.label(spec.problem, spec.buggy)
        assert not b.passed and b.status != "pass"
        assert b.first_error == lin.first_error == spec.bug_line
        assert b.labels == lin.labels
        scored = scored_indices(b.lines)
        for i, value in enumerate(b.labels):
            assert value == (None if i not in scored else (1.0 if i < spec.bug_line else -1.0))
        assert lin.probes == len(scored)
        assert b.probes <= math.ceil(math.log2(len(scored))) + 1
        assert b.rollouts == 2 * b.probes and lin.rollouts == 2 * lin.probes
        assert not b.monotonic_violation and not lin.monotonic_violation and not b.beyond_policy


def test_passing_response_is_all_positive_without_probes(make_prober):
    prober = make_prober()
    spec = SPECS[0]
    row = BinaryLabeler(prober.judge, prober).label(spec.problem, spec.problem.reference)
    assert row.passed and row.first_error is None and row.probes == 0 and row.rollouts == 0
    assert [v for v in row.labels if v is not None] == [1.0] * len(scored_indices(row.lines))
    assert row.labels[2] is None  # the comment line stays neutral


def test_beyond_policy_labels_nothing(make_prober):
    prober = make_prober(policy=FakePolicy(p_bug=1.0))  # nothing from scratch passes: f(0) = 0
    spec = SPECS[1]
    for labeler in (BinaryLabeler(prober.judge, prober), LinearLabeler(prober.judge, prober)):
        row = labeler.label(spec.problem, spec.buggy)
        assert row.beyond_policy and row.probes == 1 and row.first_error is None
        assert all(v is None for v in row.labels)


class RecordingPolicy(FakePolicy):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.seen = []

    def generate(self, prompts, n=1, seed=None, **kw):
        self.seen.append((tuple(prompts), n, seed))
        return super().generate(prompts, n=n, seed=seed, **kw)


def test_rollouts_continue_the_exact_prefix_and_share_seeds(make_prober):
    spec = SPECS[2]
    policy = RecordingPolicy(p_bug=0.0)
    prober = make_prober(policy=policy, k=3)
    BinaryLabeler(prober.judge, prober).label(spec.problem, spec.buggy)
    binary_calls = list(policy.seen)
    lines = split_lines(spec.buggy)
    allowed = {spec.problem.prompt + prefix_text(lines, m) for m in range(len(lines))}
    assert all(prompts[0] in allowed and len(prompts) == 1 and n == 3 for prompts, n, _ in binary_calls)
    assert all(not prompts[0].endswith("\n") or prompts[0] == spec.problem.prompt for prompts, _, _ in binary_calls)
    # A second prober with an empty cache: linear asks the same (prompt, seed) pairs wherever it overlaps.
    policy2 = RecordingPolicy(p_bug=0.0)
    prober2 = make_prober(policy=policy2, k=3)
    LinearLabeler(prober2.judge, prober2).label(spec.problem, spec.buggy)
    linear_seeds = {prompts[0]: seed for prompts, _, seed in policy2.seen}
    for prompts, _, seed in binary_calls:
        assert linear_seeds[prompts[0]] == seed


def test_cache_makes_repeated_probes_free(make_prober):
    spec = SPECS[0]
    policy = FakePolicy(p_bug=0.0)
    prober = make_prober(policy=policy)
    labeler = LinearLabeler(prober.judge, prober)
    first = labeler.label(spec.problem, spec.buggy)
    calls, runs = policy.calls, prober.judge.fresh_runs
    again = labeler.label(spec.problem, spec.buggy)
    binary = BinaryLabeler(prober.judge, prober).label(spec.problem, spec.buggy)  # a subset of linear's prefixes
    assert first.fresh_rollouts > 0 and again.fresh_rollouts == 0 and binary.fresh_rollouts == 0
    assert policy.calls == calls and prober.judge.fresh_runs == runs
    assert again.labels == first.labels and again.rollouts == first.rollouts  # counted as if uncached


class NonMonotonePolicy(FakePolicy):
    """Rollouts pass from every prefix except the one ending after line ``hole`` (f = 1,…,0,1,…)."""

    def __init__(self, hole: int, **kw):
        super().__init__(p_bug=0.0, **kw)
        self.hole = hole

    def generate(self, prompts, n=1, **kw):
        out = super().generate(prompts, n=n, **kw)
        for prompt, samples in zip(prompts, out):
            spec = self._spec_for(prompt)
            prefix = prompt[len(spec.problem.prompt):]
            if prefix and prefix.count("\n") == self.hole:  # the prefix of hole + 1 lines (no final newline)
                samples[:] = [Completion(text="\n    return None\n")] * n
        return out


def test_linear_reports_a_monotonicity_violation(make_prober):
    spec = SPECS[2]  # longest_run: bug on the max/min line; "run = 1" lines before it
    prober = make_prober(policy=NonMonotonePolicy(hole=3))
    row = LinearLabeler(prober.judge, prober).label(spec.problem, spec.buggy)
    assert row.first_error == 3 and row.monotonic_violation
    assert row.prefix_values[3] == 0.0 and row.prefix_values[4] == 1.0
    # A passing sibling (the reference) runs through the hole: with evidence f = 1 there after all.
    lifted = LinearLabeler(prober.judge, prober, evidence=True).label(spec.problem, spec.buggy, siblings=[spec.problem.reference])
    assert lifted.first_error == spec.bug_line and lifted.prefix_values[3] == 1.0 and lifted.probes == row.probes


def test_mc_soft_labels(make_prober):
    prober = make_prober(policy=FakePolicy(p_bug=0.5), k=4)
    spec = SPECS[1]
    row = MCLabeler(prober.judge, prober).label(spec.problem, spec.buggy)
    if row.beyond_policy:
        pytest.skip("seeded draw made f(0) = 0")  # p_bug 0.5, K=4: (1/2)^4 odds
    values = [row.labels[i] for i in scored_indices(row.lines)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values[: spec.bug_line] == [1.0] * spec.bug_line and values[spec.bug_line:] == [0.0] * (len(values) - spec.bug_line)
    assert row.first_error == spec.bug_line and 0 < row.empty_prefix_value <= 1
    ok = MCLabeler(prober.judge, prober).label(spec.problem, spec.problem.reference)
    assert ok.passed and ok.probes == len(scored_indices(ok.lines)) and ok.labels[-1] == 1.0


def test_mutation_labels(sandbox):
    judge = Judge(sandbox, ProbeCache())
    spec = SPECS[0]
    rows = MutationLabeler(judge, mutants=3).label_all(spec.problem, spec.problem.reference, sample_index=5)
    assert rows[0].passed and rows[0].variant == 0 and rows[0].sample_index == 5
    assert 1 <= len(rows) - 1 <= 3
    for mutant in rows[1:]:
        assert not mutant.passed and mutant.mutation and mutant.rollouts == 0
        changed = [i for i, (a, b) in enumerate(zip(mutant.lines, rows[0].lines)) if a != b]
        assert changed == [mutant.first_error]
        for i in scored_indices(mutant.lines):
            assert mutant.labels[i] == (1.0 if i < mutant.first_error else -1.0)
    failing = MutationLabeler(judge).label_all(spec.problem, spec.buggy)
    assert len(failing) == 1 and not failing[0].labeled


class FlakySandbox:
    """The real sandbox behind a wrapper that turns the first ``fail_calls`` run_many calls into infra
    errors (what a crashed worker reports)."""

    def __init__(self, inner, fail_calls):
        self.inner, self.fail_calls, self.calls = inner, fail_calls, 0

    def run_many(self, pairs):
        self.calls += 1
        results = self.inner.run_many(pairs)
        if self.calls <= self.fail_calls:
            for r in results:
                for t in r.tests:
                    t.status = "infra_error"
        return results


def test_infra_errors_are_retried_once_then_unknown(make_prober):
    spec = SPECS[1]
    prober = make_prober(policy=FakePolicy(p_bug=0.0), wrap=lambda sb: FlakySandbox(sb, fail_calls=1))
    row = BinaryLabeler(prober.judge, prober).label(spec.problem, spec.buggy)
    assert row.first_error == spec.bug_line and prober.judge.infra_unknown == 0
    never = make_prober(policy=FakePolicy(p_bug=0.0), wrap=lambda sb: FlakySandbox(sb, fail_calls=10**6))
    with pytest.raises(VerdictUnknown):
        BinaryLabeler(never.judge, never).label(spec.problem, spec.buggy)
    assert never.judge.infra_unknown >= 1
    assert never.cache.conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0] == 0


def test_bad_k_and_method(make_prober):
    prober = make_prober()
    with pytest.raises(CodeprmError):
        make_labeler("nope", prober.judge, prober, 2)
    with pytest.raises(CodeprmError):
        MutationLabeler(prober.judge, k=0)


def test_binary_evidence_from_a_passing_sibling(make_prober):
    spec = SPECS[2]
    policy = RecordingPolicy(p_bug=0.0)
    prober = make_prober(policy=policy)
    plain = BinaryLabeler(prober.judge, prober).label(spec.problem, spec.buggy, siblings=[spec.problem.reference])
    policy.seen.clear()
    row = BinaryLabeler(prober.judge, prober, evidence=True).label(spec.problem, spec.buggy, siblings=[spec.buggy, spec.problem.reference])
    assert plain.empty_prefix_value is not None  # the default ignores siblings: the paper's f
    assert row.first_error == plain.first_error == spec.bug_line and row.labels == plain.labels
    assert row.probes < plain.probes and row.empty_prefix_value is None  # f(0) came free from the sibling
    assert row.rollouts == 2 * row.probes


def test_label_function_api(sandbox):
    from codeprm.labels import label

    spec = SPECS[1]
    for method in ("binary", "linear", "mc"):
        [row] = label(spec.problem, spec.buggy, FakePolicy(p_bug=0.0), sandbox, method=method, rollouts=2)
        assert row.method == method and row.first_error == spec.bug_line
    rows = label(spec.problem, spec.problem.reference, FakePolicy(), sandbox, method="mutation")
    assert rows[0].passed and all(r.method == "mutation" for r in rows)


def test_prefix_ends_at_the_line_end_without_its_newline():
    lines = split_lines("\n    x = 1\n    return x\n")
    assert prefix_text(lines, 0) == "" and prefix_text(lines, 2) == "\n    x = 1"
    assert prefix_text(lines, 3) == "\n    x = 1\n    return x"


def test_a_truncated_response_is_not_blamed_on_its_last_line(make_prober):
    spec = SPECS[0]  # sum_positive; cut before "return total": fails only because it stopped
    cut = spec.problem.reference.split("\n\n")[0] + "\n"
    prober = make_prober(policy=FakePolicy(p_bug=0.0))
    for labeler in (BinaryLabeler(prober.judge, prober), LinearLabeler(prober.judge, prober)):
        blamed = labeler.label(spec.problem, cut)
        assert not blamed.passed and blamed.first_error == scored_indices(blamed.lines)[-1]
        row = labeler.label(spec.problem, cut, truncated=True)
        scored = scored_indices(row.lines)
        assert row.truncated and row.first_error is None and not row.beyond_policy
        assert [row.labels[i] for i in scored] == [1.0] * (len(scored) - 1) + [None]
    # a real error before the cut is still found
    buggy_cut = spec.buggy.split("\n\n")[0] + "\n"
    row = BinaryLabeler(prober.judge, prober).label(spec.problem, buggy_cut, truncated=True)
    assert row.first_error == spec.bug_line


class SameLinePolicy(FakePolicy):
    """Calls with an even seed (or every call, with ``always``) extend the prefix's last line instead
    of starting a new one."""

    def __init__(self, always=False, **kw):
        super().__init__(**kw)
        self.always = always

    def generate(self, prompts, n=1, seed=None, **kw):
        out = super().generate(prompts, n=n, seed=seed, **kw)
        if self.always or seed % 2 == 0:
            for samples in out:
                samples[:] = [Completion(text=" + 0" + c.text) for c in samples]
        return out


def test_continue_lines_keeps_only_continuations_that_start_a_new_line(make_prober):
    spec = SPECS[1]
    policy = SameLinePolicy(p_bug=0.0)
    context = spec.problem.prompt + "    n = 0"
    [samples] = policy.continue_lines([context], n=3, seed=2)  # round 0 rejected, round 1 accepted
    assert policy.calls == 2 and all(c.text.startswith("\n") for c in samples)
    assert context + samples[0].text == spec.problem.prompt + spec.problem.reference
    # never a new line: the samples are flagged, and the probe has no usable verdict (never a fail)
    never = SameLinePolicy(always=True, p_bug=0.0)
    [flagged] = never.continue_lines([context], n=2, seed=2)
    assert all(c.meta.get("new_line") is False for c in flagged) and never.calls == 4
    prober = make_prober(policy=never)
    outcome = prober.probe(spec.problem, "    n = 0")
    assert outcome.unknown and outcome.known == 0
