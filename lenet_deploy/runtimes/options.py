"""Runtime options as frozen dataclasses: keyword arguments (or ``key=value`` text) checked
against the declared fields, so a typo or a wrong type is an error listing the valid options."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from ..errors import OptionsError
from ..limits import LIMITS


@dataclasses.dataclass(frozen=True)
class ThreadOptions:
    """The option every CPU engine shares: ``threads`` (None: the engine's own choice; at most
    ``LIMITS.max_threads``)."""

    threads: int | None = None

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.threads is not None and self.threads > LIMITS.max_threads:
            raise ValueError(
                f"threads must be at most {LIMITS.max_threads:,} (limit max_threads), "
                f"got {self.threads:,}"
            )


def option_names(options_type: type) -> list[str]:
    return [f.name for f in dataclasses.fields(options_type)]


def describe(options_type: type) -> str:
    """``name: type = default`` for each field, for error messages and ``runtimes --json``."""
    hints = typing.get_type_hints(options_type)
    parts = [
        f"{f.name}: {_type_name(hints[f.name])} = {f.default!r}"
        for f in dataclasses.fields(options_type)
    ]
    return ", ".join(parts) or "none"


def parse_options(
    runtime: str, options_type: type, values: Mapping[str, Any], *, from_text: bool = False
) -> Any:
    """An ``options_type`` instance from ``values``; OptionsError for unknown or ill-typed ones.

    With ``from_text`` the values are strings (from the command line) and are converted to the
    declared types first: "true"/"false" for booleans, numbers, "none" for optional fields.
    """
    hints = typing.get_type_hints(options_type)
    valid = option_names(options_type)
    unknown = [k for k in values if k not in valid]
    if unknown:
        raise OptionsError(
            f"{runtime}: unknown option {unknown[0]!r}; valid options: {describe(options_type)}"
        )
    checked = {}
    for key, value in values.items():
        if from_text:
            value = _from_text(runtime, key, hints[key], value)
        if not _matches(value, hints[key]):
            raise OptionsError(
                f"{runtime}: option {key} must be {_type_name(hints[key])}, got {value!r}; "
                f"valid options: {describe(options_type)}"
            )
        checked[key] = float(value) if _base(hints[key]) is float else value
    try:
        return options_type(**checked)
    except (ValueError, TypeError) as exc:  # __post_init__ range checks
        raise OptionsError(f"{runtime}: {exc}") from None


def _base(hint: Any) -> Any:
    """``int`` for ``int | None``; the hint itself otherwise."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if _is_optional(hint) and len(args) == 1 else hint


def _is_optional(hint: Any) -> bool:
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    return union and type(None) in typing.get_args(hint)


def _matches(value: Any, hint: Any) -> bool:
    if value is None:
        return _is_optional(hint)
    base = _base(hint)
    if typing.get_origin(base) is typing.Literal:
        return value in typing.get_args(base)
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, base)


def _from_text(runtime: str, key: str, hint: Any, text: Any) -> Any:
    if not isinstance(text, str):
        return text
    base = _base(hint)
    if text.lower() == "none" and _is_optional(hint):
        return None
    try:
        if base is bool:
            return {"true": True, "1": True, "false": False, "0": False}[text.lower()]
        if base in (int, float):
            return base(text)
    except (KeyError, ValueError):
        raise OptionsError(
            f"{runtime}: option {key} must be {_type_name(hint)}, got {text!r}"
        ) from None
    return text


def _type_name(hint: Any) -> str:
    base = _base(hint)
    if typing.get_origin(base) is typing.Literal:
        name = "one of " + "|".join(str(a) for a in typing.get_args(base))
    else:
        name = getattr(base, "__name__", str(base))
    return f"{name} or None" if _is_optional(hint) else name
