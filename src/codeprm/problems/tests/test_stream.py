"""Fresh problems per RL step: deterministic per (seed, step), never a repeat, never a held-out problem."""

import pytest

from codeprm.errors import CodeprmError
from codeprm.problems import load_benchmark
from codeprm.problems.stream import ProblemStream

SPEC = "synth:train?difficulty=2-3"


def test_draws_are_fresh_and_deterministic():
    a, b = ProblemStream(SPEC, seed=3), ProblemStream(SPEC, seed=3)
    prompts = set()
    for step in range(6):
        batch = a.draw(step, 5)
        assert [p.prompt for p in batch] == [p.prompt for p in b.draw(step, 5)]
        assert len(batch) == 5 and not prompts & {p.prompt for p in batch}
        prompts |= {p.prompt for p in batch}
    # another run seed is another stream
    assert {p.prompt for p in ProblemStream(SPEC, seed=4).draw(0, 5)} != {p.prompt for p in ProblemStream(SPEC, seed=3).draw(0, 5)}


def test_excluded_and_seen_prompts_are_never_drawn():
    first = ProblemStream(SPEC, seed=0).draw(0, 8)
    # excluding step 0's problems (as a held-out set) forces the stream past them
    stream = ProblemStream(SPEC, seed=0, exclude=first[:3])
    again = stream.draw(0, 8)
    assert not {p.prompt for p in first[:3]} & {p.prompt for p in again}
    assert stream.rejected >= 3


def test_replay_rebuilds_what_was_seen():
    live = ProblemStream(SPEC, seed=1)
    for step in range(3):
        live.draw(step, 4)
    resumed = ProblemStream(SPEC, seed=1)
    resumed.replay(3, 4)
    assert resumed.seen == live.seen
    assert [p.prompt for p in resumed.draw(3, 4)] == [p.prompt for p in live.draw(3, 4)]


def test_heldout_suites_share_no_prompt_with_a_stream():
    heldout = load_benchmark("synth:train?size=32&difficulty=2-3&seed=7")
    stream = ProblemStream(SPEC, seed=0, exclude=heldout)
    drawn = [p for step in range(8) for p in stream.draw(step, 8)]
    assert not {p.prompt for p in heldout} & {p.prompt for p in drawn}


@pytest.mark.parametrize("spec", ["humaneval", "synth:train?size=5", "synth:nope"])
def test_bad_stream_specs_are_refused(spec):
    with pytest.raises(CodeprmError):
        ProblemStream(spec)
