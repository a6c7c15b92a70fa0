"""/run_code behaves as SandboxFusion's where codeprm once differed (issue 22), one test per difference,
and answers C/C++ with compile_result filled."""

import base64
import shutil
import time

import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi, uvicorn) is not installed")
httpx = pytest.importorskip("httpx")


def run(live, **body):
    r = httpx.post(f"{live.url}/run_code", json={"language": "python", **body}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_run_timeout_is_wall_clock_and_keeps_partial_stdout(live):
    start = time.monotonic()
    r = run(live, code="import time\nprint('tick', flush=True)\nwhile True:\n    time.sleep(0.05)\n", run_timeout=1)
    took = time.monotonic() - start
    assert r["status"] == "Failed" and r["run_result"]["status"] == "TimeLimitExceeded"
    assert r["run_result"]["stdout"] == "tick\n"
    assert took < 2.5, f"a sleeping loop must stop at 1 s of wall clock, took {took:.1f} s"


def test_big_output_comes_back_whole(live):
    r = run(live, code="import sys\nsys.stdout.write('x' * (10 << 20))\n")
    assert r["status"] == "Success" and r["message"] == ""
    assert len(r["run_result"]["stdout"]) == 10 << 20


def test_memory_limit_minus_one_means_no_limit_of_its_own(live):
    r = run(live, code="x = bytearray(200 << 20)\nprint(len(x))", memory_limit_MB=-1)
    assert r["status"] == "Success" and r["run_result"]["stdout"] == str(200 << 20) + "\n"


def test_unknown_request_fields_are_ignored(live):
    r = run(live, code="print(1)", colour="red", extra={"a": 1})
    assert r["status"] == "Success" and r["run_result"]["stdout"] == "1\n"


def test_os_exit_after_flush_is_success_with_its_output(live):
    r = run(live, code="import os, sys\nprint('done')\nsys.stdout.flush()\nos._exit(0)\n")
    assert r["status"] == "Success" and r["run_result"]["return_code"] == 0 and r["run_result"]["stdout"] == "done\n"
    r = run(live, code="import os\nos._exit(3)\n")
    assert r["status"] == "Failed" and r["run_result"]["return_code"] == 3


def test_failed_message_is_empty_and_errors_are_not_sandbox_errors(live):
    r = run(live, code="import sys\nsys.exit(1)")
    assert (r["status"], r["message"], r["run_result"]["status"], r["run_result"]["return_code"]) == ("Failed", "", "Finished", 1)


def test_ping(live):
    r = httpx.get(f"{live.url}/v1/ping", timeout=10)
    assert r.status_code == 200 and r.json() == "pong"


def test_numpy_imports_when_the_server_binds_it(live_numpy):
    pytest.importorskip("numpy", reason="numpy is not installed on this host")
    r = run(live_numpy, code="import numpy as np\nprint(int(np.arange(5).sum()))")
    assert r["status"] == "Success" and r["run_result"]["stdout"] == "10\n", r


needs_gpp = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed (Debian package g++)")


@needs_gpp
def test_cpp_run_code_fills_compile_result(live):
    code = "#include <iostream>\nint main(){long a,b; std::cin>>a>>b; std::cout<<a+b<<std::endl; return a>100;}\n"
    r = run(live, code=code, language="cpp", stdin="2 40\n", compile_timeout=60)  # a loaded machine
    assert r["status"] == "Success", r
    assert r["compile_result"]["status"] == "Finished" and r["compile_result"]["return_code"] == 0
    assert r["run_result"]["stdout"] == "42\n" and r["run_result"]["return_code"] == 0
    r = run(live, code=code, language="cpp", stdin="200 1\n", compile_timeout=60)
    assert r["status"] == "Failed" and r["run_result"]["return_code"] == 1 and r["run_result"]["stdout"] == "201\n"
    r = run(live, code="int main(){ return undefined_name; }", language="cpp", compile_timeout=60)
    assert r["status"] == "Failed" and r["run_result"] is None
    assert r["compile_result"]["return_code"] != 0 and "undefined_name" in r["compile_result"]["stderr"]


@needs_gpp
def test_cpp_wall_clock_timeout_keeps_flushed_output(live):
    code = "#include <cstdio>\n#include <unistd.h>\nint main(){ puts(\"a\"); fflush(stdout); for(;;) usleep(10000); }\n"
    r = run(live, code=code, language="cpp", run_timeout=1, compile_timeout=60)
    assert r["run_result"]["status"] == "TimeLimitExceeded" and r["run_result"]["stdout"] == "a\n"


@needs_gpp
def test_sandbox_fusion_client_and_verl_with_cpp(live):
    from sandbox_fusion import RunCodeRequest, RunStatus, run_code

    reply = run_code(RunCodeRequest(code="#include <cstdio>\nint main(){int n; scanf(\"%d\",&n); printf(\"%d\\n\", n*2);}",
                                    stdin="21\n", language="cpp"), endpoint=live.url, max_attempts=1)
    assert reply.status == RunStatus.Success and reply.run_result.stdout == "42\n"
    pytest.importorskip("verl", reason="the 'verl' extra is not installed")
    from verl.utils.reward_score.sandbox_fusion.utils import check_correctness

    code = "#include <iostream>\nint main(){int a,b; std::cin>>a>>b; std::cout<<a+b<<\"\\n\";}"
    results, _ = check_correctness(f"{live.url}/run_code", {"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "8\n"]},
                                   code, timeout=30, language="cpp")  # compile_timeout too: a loaded machine
    assert results == [True, False]


@pytest.mark.skipif(shutil.which("javac") is None, reason="javac is not installed (Debian package default-jdk-headless)")
def test_java_run_code(live):
    code = ("public class Main { public static void main(String[] a) throws Exception {\n"
            "  int n = new java.util.Scanner(System.in).nextInt(); System.out.println(n * 2);\n"
            "  if (n > 100) throw new RuntimeException(\"big\"); } }\n")
    r = run(live, code=code, language="java", stdin="21\n", compile_timeout=60)
    assert r["status"] == "Success" and r["run_result"]["stdout"] == "42\n", r
    assert r["compile_result"]["status"] == "Finished" and r["compile_result"]["return_code"] == 0
    r = run(live, code=code, language="java", stdin="200\n", compile_timeout=60)  # a compile-cache hit
    assert r["status"] == "Failed" and r["run_result"]["return_code"] == 1 and "RuntimeException: big" in r["run_result"]["stderr"]
    assert r["run_result"]["stdout"] == "400\n"
