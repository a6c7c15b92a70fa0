"""The jail side of the trust boundary imports only the standard library (and its own jail modules).

The zygote runs as ``python -I -S`` with no site-packages: every file it loads must work there, and
none may pull codeprm, pydantic or other host code across the boundary.
"""

import ast
import sys
from pathlib import Path

SANDBOX = Path(__file__).resolve().parents[1]
JAIL = sorted((SANDBOX / "jail").glob("*.py"))
# jail-side modules that live beside the host code for now (issue #16 owns them): loaded by the zygote too
JAIL_SIDE = [SANDBOX / "isolation.py", SANDBOX / "rootfs.py"]
LOCAL = {p.stem for p in JAIL + JAIL_SIDE}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_jail_files_import_only_the_standard_library():
    assert {p.name for p in JAIL} >= {"zygote.py", "supervise.py", "child.py", "wire.py", "cleanup.py"}
    for path in JAIL + [p for p in JAIL_SIDE if p.exists()]:
        outside = imported_modules(path) - set(sys.stdlib_module_names) - LOCAL - {"__future__"}
        assert not outside, f"{path.name} imports {sorted(outside)} across the trust boundary"


def test_zygote_starts_without_site_packages():
    import subprocess

    code = f"import sys; sys.path[:0] = [{str(SANDBOX / 'jail')!r}, {str(SANDBOX)!r}]; import child, supervise, cleanup, wire"
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
