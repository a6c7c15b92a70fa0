"""C and C++ through the sandbox (codeprm.sandbox.native): stdio and whole-program tests, compile errors
and limits, the compile cache, and what a compiled program cannot do (run another program, include the
host's data while compiling)."""

import os
import shutil
import tempfile

import pytest

from codeprm.errors import CodeprmError
from codeprm.problems import Problem, TestCase
from codeprm.sandbox import Sandbox, native

pytestmark = pytest.mark.skipif(shutil.which("g++") is None or shutil.which("gcc") is None,
                                reason="g++/gcc are not installed (Debian packages g++ and gcc; scripts/install.sh)")

SUM = Problem(id="sum", prompt="", style="instruct", language="cpp", time_limit_s=2.0,
              tests=[TestCase.stdio("1 2\n", "3\n"), TestCase.stdio("40 2\n", "42\n")])
FAST_CPP = ("#include <iostream>\nint main(){std::ios::sync_with_stdio(false); long a,b; std::cin>>a>>b;"
            " std::cout<<a+b<<'\\n'; return 0;}\n")  # '\n' without a flush: the shim flushes cout at the end
HARNESS = "#include <cassert>\nint main(){ assert(add(1, 2) == 3); assert(add(-2, 2) == 0); return 0; }\n"
WHOLE = Problem(id="add", prompt="int add(int a, int b) {\n", style="completion", language="cpp", time_limit_s=2.0,
                tests=[TestCase.assert_(HARNESS)])


@pytest.fixture(scope="module")
def csb():
    with Sandbox(workers=2, wall_time_factor=2.0, wall_time_extra_s=0.5, max_processes=16,
                 languages=["python", *native.available()]) as sandbox:
        yield sandbox


def test_stdio_cpp_passes_fails_and_exit_status_counts(csb):
    r = csb.run(FAST_CPP, SUM)
    assert r.passed and [t.trusted for t in r.tests] == [True, True]
    wrong = csb.run(FAST_CPP.replace("a+b", "a*b"), SUM)
    assert [t.status for t in wrong.tests] == ["fail", "fail"]  # 1*2=2, 40*2=80
    bad_exit = csb.run(FAST_CPP.replace("return 0;", "return 3;"), SUM)
    assert {t.status for t in bad_exit.tests} == {"runtime_error"}


def test_c_program_and_exit_call(csb):
    prog = "#include <stdio.h>\n#include <stdlib.h>\nint main(void){long a,b; scanf(\"%ld %ld\",&a,&b); printf(\"%ld\\n\",a+b); exit(0);}\n"
    r = csb.run(prog, SUM.model_copy(update={"language": "c"}))
    assert r.passed, r


def test_whole_program_harness_decides_and_is_untrusted(csb):
    good = csb.run(WHOLE.program("    return a + b;\n}\n"), WHOLE)
    # an untrusted pass counts only when asked for by name (the program could have forged it)
    assert not good.passed and good.passed_counting_untrusted and good.tests[0].trusted is False
    bad = csb.run(WHOLE.program("    return a * b;\n}\n"), WHOLE)
    assert bad.tests[0].status == "fail" and "Assertion `add(1, 2) == 3' failed" in bad.tests[0].stderr


def test_compile_error_is_a_syntax_error_with_the_compilers_message(csb):
    r = csb.run(WHOLE.program("    return a + b\n}\n"), WHOLE)
    assert r.tests[0].status == "syntax_error" and "expected ';'" in r.tests[0].detail


def test_runtime_limits_apply(csb):
    loop = csb.run("int main(){ volatile long x = 0; for(;;) x++; }", SUM.model_copy(update={"time_limit_s": 0.3}))
    assert {t.status for t in loop.tests} == {"timeout"}
    hog = csb.run("#include <cstdlib>\n#include <cstring>\nint main(){ for(;;){ char *p=(char*)malloc(1<<24); if(!p) return 9; memset(p,1,1<<24);} }",
                  SUM.model_copy(update={"memory_limit_mb": 64}))
    assert {t.status for t in hog.tests} <= {"memory", "runtime_error"} and not hog.passed


def test_a_compiled_program_cannot_run_another_program(csb):
    prog = ("#include <cstdio>\n#include <cstdlib>\n#include <unistd.h>\n"
            "int main(){ int s = system(\"echo pwned\"); execl(\"/bin/sh\", \"sh\", \"-c\", \"echo pwned\", (char*)0);"
            " printf(\"%d\\n\", s != 0); return 0; }")
    r = csb.run(prog, Problem(id="x", prompt="", style="instruct", language="cpp", tests=[TestCase.stdio("", "1\n")]))
    assert r.passed, r  # system() failed, execl returned, and nothing printed 'pwned'


@pytest.mark.skipif(os.geteuid() != 0, reason="the compile jail's namespaces need root")
def test_compile_jail_hides_host_data():
    secret_dir = tempfile.mkdtemp(dir="/var/tmp")
    secret = os.path.join(secret_dir, "secret.h")
    with open(secret, "w") as fh:
        fh.write("int secret = 42;\n")
    os.chmod(secret_dir, 0o755)
    os.chmod(secret, 0o644)
    compiler = native.Compiler()
    try:
        built = compiler.compile("c", f'#include "{secret}"\nint main(void){{return secret;}}\n')
        assert not built.ok and "No such file" in built.stderr
        plain = compiler.compile("c", "int main(void){return 0;}\n")
        assert plain.ok and plain.shared_object.startswith(b"\x7fELF")
        again = compiler.compile("c", "int main(void){return 0;}\n")
        assert again.cached and again.shared_object == plain.shared_object
    finally:
        compiler.close()
        shutil.rmtree(secret_dir)


def test_compile_limits_stop_a_compiler_bomb():
    compiler = native.Compiler(limits=native.CompileLimits(cpu_s=2, wall_s=4, memory_mb=256))
    try:
        built = compiler.compile("c", "#include </dev/zero>\n")
        assert not built.ok and built.time_s < 4.5
    finally:
        compiler.close()


def test_missing_toolchain_names_the_package(monkeypatch, csb):
    monkeypatch.setattr(native, "available", lambda: [])
    with pytest.raises(CodeprmError, match="Debian package g\\+\\+"):
        csb.run(FAST_CPP, SUM)
    with pytest.raises(CodeprmError, match="'cobol' is not supported"):
        csb.run("x", SUM.model_copy(update={"language": "cobol"}))


@pytest.mark.slow
def test_humaneval_x_canonical_solutions_pass():
    from codeprm.problems import humaneval_x

    try:
        problems = humaneval_x.load("cpp")[:3]
    except CodeprmError as exc:
        pytest.skip(str(exc))
    with Sandbox(workers=2) as sb:
        results = sb.run_many([(p.reference_program, p) for p in problems])
    assert all(r.passed for r in results), [r.tests[0].detail for r in results]


needs_java = pytest.mark.skipif("java" not in native.available(),
                                reason="javac/libjvm are not installed (Debian package default-jdk-headless)")


@needs_java
def test_java_runs_in_a_jvm_inside_the_child(csb):
    prog = ("import java.util.*;\npublic class Main { public static void main(String[] a) {\n"
            "  Scanner s = new Scanner(System.in); long x = s.nextLong(), y = s.nextLong();\n"
            "  if (x == 40) throw new IllegalStateException(\"forty\");\n  System.out.print(x + y); System.out.print('\\n'); } }\n")
    r = csb.run(prog, SUM.model_copy(update={"language": "java", "time_limit_s": 5.0}))
    assert r.tests[0].status == "pass", r.tests[0]
    assert r.tests[1].status == "runtime_error" and "IllegalStateException: forty" in r.tests[1].stderr
    harness = ("public class Main { public static void main(String[] a) {\n"
               "  if (new Solution().add(1, 2) != 3) throw new AssertionError(); } }\n")
    whole = Problem(id="j", prompt="class Solution {\n    public int add(int a, int b) {\n", language="java", time_limit_s=5.0,
                    tests=[TestCase.assert_(harness)])
    good, bad = csb.run_many([(whole.program("        return a + b;\n    }\n}\n"), whole),
                              (whole.program("        return a - b;\n    }\n}\n"), whole)])
    # an untrusted pass counts only when asked for by name (the program could have forged it)
    assert not good.passed and good.passed_counting_untrusted and good.tests[0].trusted is False
    assert bad.tests[0].status == "fail" and "AssertionError" in bad.tests[0].stderr
