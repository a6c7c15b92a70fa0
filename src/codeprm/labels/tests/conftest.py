import pytest

from codeprm.labels.cache import ProbeCache
from codeprm.labels.probe import Judge, Prober, Sampling
from codeprm.labels.tests.fakes import FakePolicy


@pytest.fixture(scope="session")
def sandbox():
    from codeprm.sandbox import Sandbox

    with Sandbox() as sb:
        yield sb


@pytest.fixture
def make_prober(sandbox):
    """A prober over the fake policy and the real sandbox, with a fresh in-memory cache."""

    def make(policy=None, k=2, seed=0, wrap=None):
        cache = ProbeCache()
        judge = Judge(wrap(sandbox) if wrap else sandbox, cache)
        policy = policy or FakePolicy()
        return Prober(policy, "fake", judge, cache, Sampling(k=k, temperature=0.8, top_p=0.95, max_new_tokens=64, seed=seed))

    return make
