"""Java: ``javac`` in the compile jail, then the JVM *inside* the sandbox's child, started through JNI.

A JVM is a shared library (``libjvm.so``) with an invocation API, so the launcher loads it with ctypes,
creates a VM (``JNI_CreateJavaVM``) with the class files in its private directory as the class path,
and calls ``Main.main`` (``CallStaticVoidMethodA``): no ``execve``, the same seccomp filter, root,
namespaces, cgroups and rlimits as a Python sample. The JDK directory (and the libraries it loads)
joins the allow-list root read-only.

Exit status as ``java Main`` gives it: 0 when ``main`` returns, 1 with the stack trace on stderr when an
exception escapes. ``System.exit(n)`` ends the process at once (HotSpot calls ``exit``), so the
sandbox sees the program die before it reports: not a pass (a known limit; HumanEval-X's harnesses
throw ``AssertionError`` instead).
"""

from __future__ import annotations

import glob
import marshal
import os
import shutil

# the JVM's own reservations must fit under RLIMIT_AS (heap, class space, code cache), and it must not
# spawn a thread per core (RLIMIT_NPROC and the pids cgroup count threads)
JVM_OPTIONS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1", "-XX:-UsePerfData",
               "-Xshare:auto", "-XX:CompressedClassSpaceSize=32m", "-XX:ReservedCodeCacheSize=16m",
               "-XX:MaxMetaspaceSize=64m", "-Xrs", "-XX:+DisableAttachMechanism", "-XX:+DisplayVMOutputToStderr")
JAVAC_FLAGS = ["-J-Xmx512m", "-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1", "-J-XX:CompressedClassSpaceSize=64m",
               "-J-XX:ReservedCodeCacheSize=64m", "-J-XX:-UsePerfData", "-encoding", "UTF-8", "-nowarn"]
# JNINativeInterface_ slots (jni.h): the functions the launcher calls
JNI = {"FindClass": 6, "ExceptionDescribe": 16, "ExceptionClear": 17, "GetMethodID": 33, "CallVoidMethodA": 63,
       "GetStaticMethodID": 113, "CallStaticVoidMethodA": 143, "GetStaticFieldID": 144, "GetStaticObjectField": 145, "NewObjectArray": 172,
       "ExceptionCheck": 228}


def javac() -> str | None:
    found = shutil.which("javac")
    return os.path.realpath(found) if found else None


def java_home() -> str | None:
    tool = javac()
    return os.path.dirname(os.path.dirname(tool)) if tool else None


def libjvm() -> str | None:
    home = java_home()
    path = os.path.join(home, "lib", "server", "libjvm.so") if home else None
    return path if path and os.path.exists(path) else None


def runtime_paths() -> list[str]:
    """The JDK's directory, the configuration its symlinks point to, and the libraries its .so files load."""
    from codeprm.sandbox import rootfs

    home = java_home()
    if home is None or libjvm() is None:
        return []
    objects = sorted(glob.glob(os.path.join(home, "lib", "**", "*.so"), recursive=True))
    libraries, _ = rootfs.library_closure(objects, rootfs.loader_dirs())
    targets = set()
    for link in glob.glob(os.path.join(home, "**"), recursive=True):  # e.g. conf -> /etc/java-17-openjdk
        if os.path.islink(link):
            real = os.path.realpath(link)
            if os.path.exists(real) and not real.startswith(home + "/"):
                targets.add(real)
    return sorted({home, *libraries, *targets})


def collect(classes_dir: str) -> bytes:
    """Every class file javac wrote, as one marshal'd {relative path: bytes} (the launcher writes them back)."""
    out = {}
    for path in glob.glob(os.path.join(classes_dir, "**", "*.class"), recursive=True):
        with open(path, "rb") as fh:
            out[os.path.relpath(path, classes_dir)] = fh.read()
    return marshal.dumps(out)


def launcher(artifact: bytes, whole_program: bool, memory_mb: int) -> str:
    """The Python program that runs ``Main.main`` in a JVM started inside the child (see the module doc)."""
    heap = max(32, memory_mb // 4)  # the rest: class space, code cache, metaspace, thread stacks, libraries
    options = [f"-Xmx{heap}m", *JVM_OPTIONS]
    run = ("def codeprm_main():\n    _rc = _run_java()\n    if _rc:\n        raise AssertionError(f'exit status {_rc}')\n"
           if whole_program else "_rc = _run_java()\nif _rc:\n    raise SystemExit(_rc)\n")
    return f'''import ctypes as _c, marshal as _m, os as _o
for _name, _data in _m.loads({artifact!r}).items():
    if _o.path.dirname(_name):
        _o.makedirs(_o.path.dirname(_name), exist_ok=True)
    with open(_name, "wb") as _f:
        _f.write(_data)
_c.CDLL(None).mallopt(-8, 2)  # M_ARENA_MAX: each thread's malloc arena would reserve 64 MiB of address space


def _run_java():
    class _Opt(_c.Structure):
        _fields_ = [("s", _c.c_char_p), ("x", _c.c_void_p)]

    class _Args(_c.Structure):
        _fields_ = [("version", _c.c_int), ("n", _c.c_int), ("opts", _c.POINTER(_Opt)), ("ignore", _c.c_ubyte)]

    _opts = [b"-Djava.class.path=" + _o.getcwd().encode()] + {[o.encode() for o in options]!r}
    _arr = (_Opt * len(_opts))(*[_Opt(o, None) for o in _opts])
    _args = _Args(0x000a0000, len(_opts), _arr, 0)
    _vm, _env = _c.c_void_p(), _c.c_void_p()
    _jvm = _c.CDLL({libjvm()!r})
    _rc = _jvm.JNI_CreateJavaVM(_c.byref(_vm), _c.byref(_env), _c.byref(_args))
    if _rc != 0:
        raise RuntimeError(f"the JVM did not start (JNI_CreateJavaVM returned {{_rc}})")
    _table = _c.cast(_env, _c.POINTER(_c.POINTER(_c.c_void_p)))[0]
    _P = _c.c_void_p

    def _fn(_name, _res, *_types):
        return _c.CFUNCTYPE(_res, _P, *_types)(_table[{JNI!r}[_name]])

    _find = _fn("FindClass", _P, _c.c_char_p)
    _check = _fn("ExceptionCheck", _c.c_ubyte)
    _cls = _find(_env, b"Main")
    if not _cls or _check(_env):
        _fn("ExceptionDescribe", None)(_env)
        return 1
    _mid = _fn("GetStaticMethodID", _P, _P, _c.c_char_p, _c.c_char_p)(_env, _cls, b"main", b"([Ljava/lang/String;)V")
    if not _mid or _check(_env):
        _fn("ExceptionDescribe", None)(_env)
        return 1
    _argv = _fn("NewObjectArray", _P, _c.c_int, _P, _P)(_env, 0, _find(_env, b"java/lang/String"), None)
    _fn("CallStaticVoidMethodA", None, _P, _P, _c.POINTER(_P))(_env, _cls, _mid, (_P * 1)(_argv))
    _status = 0
    if _check(_env):
        _fn("ExceptionDescribe", None)(_env)  # the stack trace on stderr, as `java Main` prints it
        _status = 1
    _system = _find(_env, b"java/lang/System")
    _stream = _find(_env, b"java/io/PrintStream")
    _flush = _fn("GetMethodID", _P, _P, _c.c_char_p, _c.c_char_p)(_env, _stream, b"flush", b"()V")
    for _which in (b"out", b"err"):  # System.out buffers: flush it as the JVM's exit would
        _field = _fn("GetStaticFieldID", _P, _P, _c.c_char_p, _c.c_char_p)(_env, _system, _which, b"Ljava/io/PrintStream;")
        _obj = _fn("GetStaticObjectField", _P, _P, _P)(_env, _system, _field)
        _fn("CallVoidMethodA", None, _P, _P, _P)(_env, _obj, _flush, None)
    return _status


{run}'''
