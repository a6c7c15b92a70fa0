"""Re-judge the C++ canonical solutions that failed in the bench run, and the one mutant disagreement,
after the fixes (compile limits 30 s CPU / 90 s wall, -lcrypto as needed, libboost-dev installed)."""
import json, os, random, sys
from codeprm.problems import humaneval_x
from codeprm.sandbox import Sandbox
from codeprm.sandbox.bench_languages import mutants, plain_judge
problems = humaneval_x.load("cpp")
ids = ["CPP/22", "CPP/105", "CPP/137", "CPP/149", "CPP/151", "CPP/152", "CPP/153", "CPP/162"]
rng = random.Random(0)
mut = {p.id: mutants(p.reference or "", 1, rng) for p in problems}  # the bench's seeded draw, in order
by = {p.id: p for p in problems}
pairs = [(by[i].reference_program, by[i]) for i in ids] + [(by["CPP/101"].program(mut["CPP/101"][0]), by["CPP/101"])]
with Sandbox(workers=2) as sb:
    res = sb.run_many(pairs)
out = []
for (prog, p), r in zip(pairs, res):
    plain = plain_judge("cpp", prog + "\n" + p.tests[0].code)
    out.append({"id": p.id, "codeprm_passed": r.passed, "status": r.status, "plain_passed": plain,
                "detail": (r.tests[0].detail + " " + r.tests[0].stderr)[:300]})
    print(out[-1])
print(json.dumps(out))
