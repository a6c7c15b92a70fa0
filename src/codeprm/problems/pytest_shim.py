"""The few pytest helpers that benchmark test modules (KodCode) use, as plain code.

The sandbox's child cannot (and should not) import pytest, and the same test must give the same verdict
wherever it runs. The KodCode adapter puts the source of ``_codeprm_pytest`` into ``test_setup`` followed
by ``pytest = _codeprm_pytest()``, so tests keep writing ``pytest.raises(...)`` / ``pytest.approx(...)``.
Only two names enter the program's namespace. Defaults follow pytest: ``approx`` has rel=1e-6, abs=1e-12.
"""

from __future__ import annotations

import inspect


def _codeprm_pytest():
    import math
    import re
    import types

    class Raises:
        def __init__(self, expected, match=None):
            self.expected, self.match, self.value, self.type = expected, match, None, None

        def __enter__(self):
            return self

        def __exit__(self, exc_type, exc, tb):
            if exc_type is None:
                raise AssertionError(f"DID NOT RAISE {self.expected}")
            if not issubclass(exc_type, self.expected):
                return False
            if self.match is not None and not re.search(self.match, str(exc)):
                raise AssertionError(f"{str(exc)!r} does not match {self.match!r}")
            self.value, self.type = exc, exc_type
            return True

    def raises(expected, *args, match=None, **kwargs):
        if not args:
            return Raises(expected, match)
        with Raises(expected, match) as info:  # the old call form: raises(E, func, *args)
            args[0](*args[1:], **kwargs)
        return info

    class approx:
        def __init__(self, expected, rel=None, abs=None):
            self.expected = expected
            self.rel = 1e-6 if rel is None else rel
            self.abs = 1e-12 if abs is None else abs

        def _close(self, actual, expected):
            if isinstance(expected, dict):
                return isinstance(actual, dict) and actual.keys() == expected.keys() and all(self._close(actual[k], expected[k]) for k in expected)
            if isinstance(expected, (list, tuple)):
                return isinstance(actual, (list, tuple)) and len(actual) == len(expected) and all(map(self._close, actual, expected))
            if isinstance(expected, (int, float)) and not isinstance(expected, bool) and isinstance(actual, (int, float)):
                if math.isinf(expected) or math.isinf(actual):
                    return actual == expected
                return math.isclose(actual, expected, rel_tol=self.rel, abs_tol=self.abs)
            return actual == expected

        def __eq__(self, actual):
            return self._close(actual, self.expected)

        __hash__ = None

        def __repr__(self):
            return f"approx({self.expected!r})"

    class Mark:
        # pytest.mark.anything(...) or @pytest.mark.anything: decorators that change nothing here
        def __getattr__(self, name):
            def mark(*args, **kwargs):
                if len(args) == 1 and callable(args[0]) and not kwargs:
                    return args[0]
                return lambda f: f

            return mark

    def fixture(*args, **kwargs):
        return args[0] if len(args) == 1 and callable(args[0]) and not kwargs else (lambda f: f)

    class Failed(AssertionError):
        pass

    class Skipped(Exception):
        pass

    def fail(reason="", pytrace=True):
        raise Failed(reason)

    def skip(reason="", allow_module_level=False):
        raise Skipped(reason)

    return types.SimpleNamespace(raises=raises, approx=approx, mark=Mark(), fixture=fixture, fail=fail, skip=skip)


def shim_source(bindings: list[tuple[str, str]]) -> str:
    """Setup code defining the shim and binding ``name = shim.attr`` (attr "" binds the shim itself)."""
    lines = [inspect.getsource(_codeprm_pytest).rstrip(), "_codeprm_pytest = _codeprm_pytest()"]
    for name, attr in bindings:
        lines.append(f"{name} = _codeprm_pytest" + (f".{attr}" if attr else ""))
    return "\n".join(lines) + "\n"
