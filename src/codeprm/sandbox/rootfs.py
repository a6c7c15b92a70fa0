"""The sample's root filesystem, built from an allow-list once per zygote. Stdlib only.

Nothing of the host is visible to a sample unless it is on the allow-list: the interpreter and its
standard library (site-packages hidden), the shared libraries they load (the DT_NEEDED closure of the
executable and of every extension module, found the way the dynamic loader finds them), the loader's
cache, a minimal ``/dev``, a private ``/proc`` and ``/tmp``, and whatever the sandbox config adds by
name (``packages``) or by path (``extra_paths``). Three steps, the first two pure:

* ``plan(extra_paths, packages)`` (host, cached per process): which host paths a sample gets (real
  paths to bind, symlinks to recreate so that the same names resolve, directories for ``sys.path``).
* ``layout(plan, hide_paths, cgroups, tmp_options)``: the ordered mount operations, testable without a
  sandbox; ``visible_mounts`` says which mount points a sample will find.
* ``build(state)`` (zygote, once, after ``unshare(CLONE_NEWNS)``): runs the operations on a fresh tmpfs
  and ``pivot_root``s into it; the old root is detached, so no path leads back to the host's files.
"""

from __future__ import annotations

import _thread  # not threading: the zygote imports this module and must not register fork handlers
import ctypes
import glob
import os
import stat
import struct
import sys
import sysconfig

MS_RDONLY, MS_NOSUID, MS_NODEV = 1, 2, 4
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
DEVICES = ("null", "zero", "full", "random", "urandom")
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
STAGE = "/tmp"  # the new root is assembled on a tmpfs mounted here, in the zygote's namespace only


# ---- ELF: which shared libraries an object loads ---------------------------------------------------
def elf_deps(path: str) -> tuple[list[str], list[str], str | None]:
    """(DT_NEEDED names, RUNPATH-or-RPATH dirs with $ORIGIN expanded, PT_INTERP) of a 64-bit ELF file;
    empty for anything else (scripts, 32-bit objects, unreadable files)."""
    try:
        with open(path, "rb") as fh:
            ident = fh.read(64)
            if len(ident) < 64 or ident[:4] != b"\x7fELF" or ident[4] != 2:
                return [], [], None
            end = "<" if ident[5] == 1 else ">"
            phoff, = struct.unpack_from(end + "Q", ident, 32)
            phentsize, phnum = struct.unpack_from(end + "HH", ident, 54)
            fh.seek(phoff)
            table = fh.read(phentsize * phnum)
            loads, dynamic, interp = [], None, None
            for i in range(phnum):
                p_type, _, offset, vaddr, _, filesz, _, _ = struct.unpack_from(end + "IIQQQQQQ", table, i * phentsize)
                if p_type == 1:
                    loads.append((vaddr, filesz, offset))
                elif p_type == 2:
                    dynamic = (offset, filesz)
                elif p_type == 3:
                    fh.seek(offset)
                    interp = fh.read(filesz).split(b"\0")[0].decode()
            if dynamic is None:
                return [], [], interp
            fh.seek(dynamic[0])
            dyn = fh.read(dynamic[1])
            entries = [struct.unpack_from(end + "qQ", dyn, i) for i in range(0, len(dyn) - 15, 16)]
            strtab = next((val for tag, val in entries if tag == 5), None)
            base = next((off + strtab - vaddr for vaddr, size, off in loads if strtab is not None and vaddr <= strtab < vaddr + size), None)
            if base is None:
                return [], [], interp

            def string(at: int) -> str:
                fh.seek(base + at)
                return fh.read(4096).split(b"\0")[0].decode(errors="replace")

            needed = [string(val) for tag, val in entries if tag == 1]
            runpath = [string(val) for tag, val in entries if tag == 29] or [string(val) for tag, val in entries if tag == 15]
    except (OSError, struct.error, ValueError):
        return [], [], None
    origin = os.path.dirname(os.path.realpath(path))
    dirs = [d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin) for rp in runpath for d in rp.split(":") if d]
    return needed, dirs, interp


def loader_dirs() -> list[str]:
    """Where the dynamic loader looks after an object's own RUNPATH: /etc/ld.so.conf, then the defaults."""
    dirs: list[str] = []

    def read(conf: str, depth: int = 0) -> None:
        try:
            with open(conf) as fh:
                lines = fh.read().splitlines()
        except OSError:
            return
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line.startswith("include ") and depth < 8:
                for inc in sorted(glob.glob(os.path.join(os.path.dirname(conf), line.split(None, 1)[1]))):
                    read(inc, depth + 1)
            elif line.startswith("/"):
                dirs.append(line)

    read("/etc/ld.so.conf")
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    defaults = [f"/lib/{arch}", f"/usr/lib/{arch}"] if arch else []
    return list(dict.fromkeys(dirs + defaults + ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]))


def library_closure(roots: list[str], search: list[str]) -> tuple[list[str], list[str]]:
    """(every shared library the roots load, directly or not, as the path the loader opens; names not found)."""
    found: dict[str, None] = {}
    missing: dict[str, None] = {}
    todo, seen = list(roots), set()
    while todo:
        obj = todo.pop()
        if obj in seen:
            continue
        seen.add(obj)
        needed, runpath, interp = elf_deps(obj)
        if interp:
            found[interp] = None
        for name in needed:
            if "/" in name:
                hit = name if os.path.exists(name) else None
            else:
                hit = next((os.path.join(d, name) for d in runpath + search if os.path.exists(os.path.join(d, name))), None)
            if hit is None:
                missing[name] = None
            elif hit not in found:
                found[hit] = None
                todo.append(hit)
    return list(found), [m for m in missing if not any(os.path.basename(f) == m for f in found)]


def resolve(path: str, links: dict[str, str], depth: int = 0) -> str:
    """The real path of ``path``; every symlink met on the way is recorded in ``links`` (name -> target)
    so that the new root can recreate it and the same name still works inside."""
    parts = [p for p in path.split("/") if p]
    current = "/"
    for i, part in enumerate(parts):
        if part == "..":
            current = os.path.dirname(current)
            continue
        nxt = os.path.join(current, part)
        if os.path.islink(nxt) and depth < 40:
            target = os.readlink(nxt)
            links[nxt] = target
            rest = "/".join(parts[i + 1:])
            return resolve(os.path.join(current, target, rest) if rest else os.path.join(current, target), links, depth + 1)
        current = nxt
    return current


# ---- the allow-list ---------------------------------------------------------------------------------
def package_paths(name: str) -> tuple[list[str], str]:
    """(files or directories of the importable top-level package ``name``, the directory to put on
    sys.path). Raises ValueError naming the package when it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec(name) if name.isidentifier() else None
    if spec is None:
        raise ValueError(f"package '{name}' is not installed (not importable here)")
    locations = list(spec.submodule_search_locations or [])
    if not locations and spec.origin and os.path.isfile(spec.origin):
        locations = [spec.origin]
    if not locations:
        raise ValueError(f"package '{name}' has no files to expose (built into the interpreter?)")
    return locations, os.path.dirname(locations[0])


_PLANS: dict[tuple, dict] = {}
_PLAN_LOCK = _thread.allocate_lock()  # workers start in parallel threads; the plan is computed once


def plan(extra_paths: tuple[str, ...] = (), packages: tuple[str, ...] = ()) -> dict:
    """Host paths a sample gets, as JSON for the zygote: binds (real paths), links (name -> target),
    sys_path (directories of added packages), missing (libraries no search found). Cached per process."""
    key = (tuple(extra_paths), tuple(packages))
    with _PLAN_LOCK:
        if key not in _PLANS:
            _PLANS[key] = _plan(extra_paths, packages)
        return _PLANS[key]


def _plan(extra_paths: tuple[str, ...], packages: tuple[str, ...]) -> dict:
    links: dict[str, str] = {}
    paths = sysconfig.get_paths()
    stdlib = [resolve(paths[k], links) for k in ("stdlib", "platstdlib")]
    dynload = [resolve(d, links) for d in sys.path if d.rstrip("/").endswith("lib-dynload") and os.path.isdir(d)]
    roots = [resolve(sys.executable, links)]
    for d in stdlib + dynload:
        roots += sorted(glob.glob(os.path.join(d, "lib-dynload", "*.so")) + glob.glob(os.path.join(d, "*.so")))
    sys_path: list[str] = []
    added: list[str] = []
    for name in packages:
        found, parent = package_paths(name)
        added += found
        sys_path.append(parent)
        for location in found:
            roots += sorted(glob.glob(os.path.join(location, "**", "*.so*"), recursive=True)) if os.path.isdir(location) else [location]
    for path in extra_paths:
        if not os.path.exists(path):
            raise ValueError(f"extra path '{path}' does not exist")
        added.append(path)
    libraries, missing = library_closure(roots, loader_dirs())
    wanted = stdlib + [roots[0]] + libraries + added + [p for p in ("/etc/ld.so.cache",) if os.path.exists(p)]
    binds = sorted({resolve(p, links) for p in wanted})
    return {"binds": binds, "links": dict(sorted(links.items())), "sys_path": list(dict.fromkeys(sys_path)),
            "missing": missing, "libraries": len(libraries)}


def _inside(path: str, parent: str) -> bool:
    return parent == "/" or path == parent or path.startswith(parent.rstrip("/") + "/")


def layout(rootfs_plan: dict, hide_paths: list[str], cgroups: list[str], tmp_options: str) -> list[tuple]:
    """The mount operations, in order, with paths as the sample will see them (``hide_paths``: real
    paths of existing directories, see ``existing_dirs``):
    ("bind", path, "ro"|"rw"|"dev"), ("tmpfs", path, options, read_only), ("link", path, target),
    ("dir", path, mode), ("proc", path). A bind or link already visible through a bound parent is left
    out; a hidden path is an empty read-only tmpfs on top of its bound parent (packages added by name
    are bound inside it again)."""
    binds = [b for b in rootfs_plan["binds"] if b != "/"]
    hidden = [h for h in sorted(set(hide_paths)) if any(_inside(h, b) and h != b for b in binds)]
    mounts = [(b, "bind") for b in binds] + [(h, "hide") for h in hidden]

    def covered(path: str) -> bool:
        """Visible already: the closest mount above ``path`` is a bind, not a hiding tmpfs."""
        above = [(p, kind) for p, kind in mounts if _inside(path, p) and p != path]
        return bool(above) and max(above, key=lambda m: len(m[0]))[1] == "bind"

    # the sample's /tmp first: an interpreter or package that lives under /tmp (a venv in CI) is bound
    # on top of it afterwards, instead of being covered by it
    ops: list[tuple] = [("tmpfs", "/tmp", tmp_options, False)]
    for path, kind in sorted(mounts, key=lambda m: (m[0].count("/"), m[0])):
        if kind == "hide":
            ops.append(("tmpfs", path, "size=4k,nr_inodes=16,mode=0555", True))
        elif not covered(path):
            ops.append(("bind", path, "ro"))
    for name, target in rootfs_plan["links"].items():
        if not covered(name) and name not in binds:
            ops.append(("link", name, target))
    ops.append(("dir", "/dev", 0o755))
    ops += [("bind", f"/dev/{d}", "dev") for d in DEVICES if os.path.exists(f"/dev/{d}")]
    ops += [("link", f"/dev/{n}", t) for n, t in DEV_LINKS.items()]
    ops.append(("tmpfs", "/dev/shm", "size=4k,nr_inodes=16,mode=0755", True))
    ops.append(("proc", "/proc"))
    if cgroups:  # the zygote (root) still sets limits and sweeps; a sample cannot enter /sys
        ops.append(("dir", "/sys", 0o700))
        ops += [("bind", os.path.realpath(c), "rw") for c in sorted(cgroups)]
    return ops


def existing_dirs(paths: list[str]) -> list[str]:
    """The real paths of those of ``paths`` that are directories on the host (what ``layout`` may hide)."""
    return sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})


def visible_mounts(ops: list[tuple]) -> list[str]:
    """Mount points a sample finds in /proc/self/mountinfo (the root itself included)."""
    return sorted({"/"} | {op[1] for op in ops if op[0] in ("bind", "tmpfs", "proc")})


def top_level(ops: list[tuple], under: str = "/") -> list[str]:
    """What ``os.listdir(under)`` shows inside (``under`` a directory the operations create, not a bind)."""
    prefix = under.rstrip("/") + "/"
    return sorted({op[1][len(prefix):].split("/")[0] for op in ops if op[1].startswith(prefix) and op[1] != prefix})


# ---- the zygote side ----------------------------------------------------------------------------------
def extend_sys_path(config: dict) -> None:
    """Directories of packages added by name go on the zygote's sys.path (children inherit it)."""
    for path in (config.get("rootfs") or {}).get("sys_path", []):
        if path not in sys.path:
            sys.path.append(path)


def build(state, tmp_options: str) -> str:
    """Assemble the allow-listed root on a tmpfs and pivot into it; returns what a sample sees, in words.
    Raises OSError when a step fails (the caller falls back, loudly)."""
    config = state.config
    rootfs_plan = config["rootfs"]
    ops = layout(rootfs_plan, existing_dirs(config.get("hide_paths", [])), list((config.get("cgroups") or {}).values()), tmp_options)
    state.call("mount", None, b"/", None, MS_REC | MS_PRIVATE, None)  # nothing below propagates to the host
    # every source opened before the staging tmpfs covers /tmp (a library or package may live there)
    sources = {op[1]: os.open(op[1], os.O_PATH) for op in ops if op[0] == "bind"}
    try:
        return _assemble(state, ops, sources)
    finally:
        for fd in sources.values():
            os.close(fd)


def _assemble(state, ops: list[tuple], sources: dict[str, int]) -> str:
    state.call("mount", b"tmpfs", STAGE.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,nr_inodes=4096,mode=0755")
    read_only = [STAGE]
    proc_note = "/proc shows a sample only its own processes"
    for op in ops:
        target = STAGE + op[1]
        if op[0] == "dir":
            os.makedirs(target, exist_ok=True)
            os.chmod(target, op[2])
        elif op[0] == "link":
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(op[2], target)
        elif op[0] == "bind":
            _mount_point(stat.S_ISDIR(os.fstat(sources[op[1]]).st_mode), target)
            state.call("mount", f"/proc/self/fd/{sources[op[1]]}".encode(), target.encode(), None, MS_BIND, None)
            flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (0 if op[2] == "dev" else MS_NODEV) | (0 if op[2] == "rw" else MS_RDONLY)
            state.call("mount", None, target.encode(), None, flags, None)
        elif op[0] == "tmpfs":
            os.makedirs(target, exist_ok=True)
            state.call("mount", b"tmpfs", target.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, op[2].encode())
            if op[3]:
                read_only.append(target)
        elif op[0] == "proc":
            os.makedirs(target, exist_ok=True)
            try:  # a procfs of our own: a sample sees only its own uid's processes
                state.call("mount", b"proc", target.encode(), b"proc", MS_NOSUID | MS_NODEV | 8, b"hidepid=2")
            except OSError as exc:
                if getattr(state, "strict", False):
                    raise OSError(exc.errno, f"a private /proc: {exc.strerror}") from None
                state.call("mount", b"/proc", target.encode(), None, MS_BIND | MS_REC, None)
                proc_note = f"/proc shows every process ({exc.strerror})"
    for path in reversed(read_only):  # children first, the root last
        state.call("mount", None, path.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    _pivot(state)
    return proc_note


def _mount_point(is_dir: bool, target: str) -> None:
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))


def _pivot(state) -> None:
    """pivot_root(".", ".") stacks the old root under the new one; detaching it leaves no way back."""
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise OSError(0, f"pivot_root: unknown syscall number on {os.uname().machine}")
    os.chdir(STAGE)
    if state.libc.syscall(ctypes.c_long(number), b".", b".") != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    state.call("umount2", b".", MNT_DETACH)
    os.chdir("/")


def describe(config: dict, tmp_mb: int, proc_note: str) -> str:
    """``mechanisms['visible']``: the allow-list in one line."""
    rootfs_plan = config["rootfs"]
    libs = rootfs_plan["libraries"]
    ops = layout(rootfs_plan, existing_dirs(config.get("hide_paths", [])), [], "")
    hidden = [op[1] for op in ops if op[0] == "tmpfs" and op[3] and op[1] != "/dev/shm"]
    extras = [b for b in rootfs_plan["binds"] if not b.endswith((".so", ".cache")) and ".so." not in b]
    return (f"only an allow-list: {', '.join(extras)} (read-only); {libs} shared libraries and the loader cache; "
            f"/dev/{{{','.join(DEVICES)}}}, /dev/shm empty read-only; {proc_note}; private {tmp_mb} MiB tmpfs /tmp "
            f"holding the work directory; hidden inside: {', '.join(hidden) or 'none'}"
            + (f"; libraries not found: {', '.join(rootfs_plan['missing'])}" if rootfs_plan["missing"] else ""))
