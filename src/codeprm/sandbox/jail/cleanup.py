"""Removing a directory tree a program made, without recursion. Stdlib only.

A sample controls its directory's shape: a tree thousands of levels deep (``shutil.rmtree`` recurses
and raises ``RecursionError``), paths longer than PATH_MAX, directories without permissions. This walks
with directory file descriptors and an explicit stack, so depth costs memory, never the stack, and
names are always short. It gives up after ``max_entries`` entries and says so: the caller then retires
the worker instead of trusting a half-removed tree.
"""

from __future__ import annotations

import os
import stat


def remove_tree(path: str, max_entries: int = 1_000_000) -> bool:
    """Remove ``path`` and everything below it. True when it is gone."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.unlink(path)
            return True
        except OSError:
            return False
    parent = os.path.dirname(path) or "."
    try:
        os.chmod(path, 0o700)
        stack = [(os.open(parent, os.O_RDONLY | os.O_DIRECTORY), None), (os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW), os.path.basename(path))]
    except OSError:
        return False
    budget = max_entries
    ok = True
    try:
        while len(stack) > 1:
            fd, name = stack[-1]
            descend = None
            try:
                with os.scandir(fd) as entries:
                    for entry in entries:
                        budget -= 1
                        if budget < 0:
                            return False
                        if entry.is_dir(follow_symlinks=False):
                            descend = entry.name
                            break
                        os.unlink(entry.name, dir_fd=fd)
            except OSError:
                return False
            if descend is not None:
                try:
                    os.chmod(descend, 0o700, dir_fd=fd, follow_symlinks=False)
                except (OSError, NotImplementedError):
                    pass
                try:
                    child = os.open(descend, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError:
                    return False
                stack.append((child, descend))
                continue
            stack.pop()
            os.close(fd)
            try:
                os.rmdir(name, dir_fd=stack[-1][0])
            except OSError:
                ok = False
                return False
        return ok
    finally:
        for fd, _ in stack:
            os.close(fd)
