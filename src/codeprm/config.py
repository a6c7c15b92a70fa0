"""Config plumbing, once for every stage: one strict pydantic base, YAML loading, dotted overrides
(``--set a.b=1``) and one translation of validation errors into a one-line ``CodeprmError``.

Every command builds its config the same way: the YAML file (``--config``), then the flags the user gave,
then ``--set`` overrides; ``build(cls, ...)`` validates the result and names any bad field with its range.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from codeprm.errors import CodeprmError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Unknown fields are an error, and assignments are validated too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @classmethod
    def from_yaml(cls: type[M], path: str | Path | None, overrides: dict[str, Any] | None = None) -> M:
        return build(cls, load_yaml(path) if path else {}, overrides, source=str(path) if path else "")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def describe_error(exc: ValidationError, section: str = "") -> str:
    """One clause per bad field naming it (inside ``section``, a dotted path), what is wrong, the allowed
    range where there is one, and the value given."""
    msgs = []
    for err in exc.errors():
        field = ".".join([*filter(None, [section]), *(str(p) for p in err["loc"])]) or "config"
        ctx = err.get("ctx") or {}
        bounds = " ".join(f"{k}={v}" for k, v in ctx.items() if k in ("ge", "gt", "le", "lt"))
        given = f", got {err['input']!r}" if "input" in err and not isinstance(err["input"], dict) else ""
        msgs.append(f"field '{field}': {err['msg']}" + (f" (allowed: {bounds})" if bounds else "") + given)
    return "; ".join(msgs)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CodeprmError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CodeprmError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise CodeprmError(f"{path}: expected a mapping of config fields")
    return data


def parse_sets(pairs: Iterable[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[1, 2]"]`` -> ``{"a.b": 1, "c": [1, 2]}``; values are read as YAML scalars/lists."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CodeprmError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def merge_dotted(data: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``data`` with dotted keys (``"reward.prm_weight_fail"``) set in nested sections."""
    data = _copy(data)
    for key, value in (overrides or {}).items():
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise CodeprmError(f"override '{key}': '{p}' is not a section")
        node[leaf] = value
    return data


def _copy(data: Any) -> Any:
    return {k: _copy(v) for k, v in data.items()} if isinstance(data, dict) else data


def build(cls: type[M], data: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None,
          source: str = "", section: str = "") -> M:
    """Validate ``data`` plus dotted ``overrides`` into ``cls``; a bad field raises one ``CodeprmError``
    line naming it (as ``section.field`` when the model is a section of a larger config, and ``source``,
    the file it came from)."""
    try:
        return cls.model_validate(merge_dotted(data or {}, overrides))
    except ValidationError as exc:
        where = f"{source}: " if source else ""
        raise CodeprmError(f"{where}bad {cls.__name__}: {describe_error(exc, section)}") from None


def build_from_cli(cls: type[M], config_path: str | Path | None, flags: dict[str, Any], sets: Iterable[str] = ()) -> M:
    """The CLI convention: YAML file, then the flags the user gave (None = not given), then ``--set``."""
    data = load_yaml(config_path) if config_path else {}
    given = {k: v for k, v in flags.items() if v is not None}
    return build(cls, data, {**given, **parse_sets(sets)}, source=str(config_path or ""))
