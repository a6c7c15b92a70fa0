"""The mutants of `codeprm bench sandbox --language`: single-site, distinct, none when none are asked for."""

import random

from codeprm.sandbox.bench_languages import mutants


def test_mutants_change_one_site_each():
    solution = "    for (i=0;i<n;i++) if (a[i]==x) return i+1;\n    return -1;\n}\n"
    out = mutants(solution, 3, random.Random(0))
    assert len(out) == 3 and len(set(out)) == 3 and solution not in out
    for m in out:
        assert len(m) - len(solution) in (-1, 0, 1)  # one operator swapped or one constant + 1
    assert mutants(solution, 0, random.Random(0)) == []
