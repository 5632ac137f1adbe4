"""Pipeline params from the command line: typed flags, ``--param``, params files.

Values come from ``--params-file`` (JSON, or YAML for ``.yaml``/``.yml``),
overridden by ``--param key=value`` and then by the typed flags generated from the
params class. Every given value is validated with pydantic against the declared
field type; defaults fill the rest, and an absent field whose type admits ``None``
is ``None``.

    >>> from typing import NamedTuple
    >>> class P(NamedTuple):
    ...     n: int
    ...     tags: list[str] = []
    >>> build_params(P, file_values={"n": "3"}, direct_values={"tags": ["a"]})
    P(n=3, tags=['a'])
"""
from __future__ import annotations

import argparse
import base64
import binascii
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..core.exceptions import ParamsError
from ..core.params_check import (FieldSpec, admits_none, checked_params, params_fields,
                                 pydantic_type, type_label, unwrap_optional)
from .context import CLIUsageError, ParamsValidationError

__all__ = ["FieldSpec", "admits_none", "params_fields", "type_label", "unwrap_optional",
           "build_params", "params_json_schema", "add_field_flags", "flag_values",
           "parse_assignment", "assignment_values", "read_params_file", "check_reserved"]

RESERVED_FIELDS = ("no_observers", "params_file")
_FLAG_SCALARS = (str, int, float)
_LIST_ITEMS = (str, int, float, bool, bytes)
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def check_reserved(cls: Any, fields: list[FieldSpec]) -> None:
    taken = sorted(f.name for f in fields if f.name in RESERVED_FIELDS)
    if taken:
        raise CLIUsageError(f"Pipeline params cannot use reserved CLI field(s): {taken}")


# -- typed flags --------------------------------------------------------------------------
def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise argparse.ArgumentTypeError("must be valid base64") from None


def _converter(kind: type) -> Callable[[str], Any]:
    """argparse ``type=``; named ``parse`` so errors read ``invalid parse value: 'x'``."""
    if kind is bytes:
        return _b64

    def parse(text: str) -> Any:
        try:
            return _parse_bool(text) if kind is bool else kind(text)
        except (TypeError, ValueError):
            # 0.32.4's phrase, then what the field wants (issue 24, item 9).
            raise argparse.ArgumentTypeError(
                f"invalid parse value: {text!r}: expected {kind.__name__}") from None
    return parse


def flag_kind(tp: Any) -> tuple[str, type] | None:
    """``("scalar"|"bool"|"list", item type)`` for types that get a flag, else None."""
    tp = unwrap_optional(tp)
    if tp is bool:
        return "bool", bool
    if tp in _FLAG_SCALARS or tp is bytes:
        return "scalar", tp
    if typing.get_origin(tp) is list:
        args = typing.get_args(tp)
        if len(args) == 1 and args[0] in _LIST_ITEMS:
            return "list", args[0]
    return None


def _dest(spec: FieldSpec) -> str:
    return f"field__{spec.name}"


def _help(spec: FieldSpec, repeatable: bool) -> str:
    text = type_label(spec.type) + (", repeatable" if repeatable else "")
    if spec.required and not spec.admits_none:
        text += " (required)"
    return text.replace("%", "%%")


def add_field_flags(parser: argparse.ArgumentParser, fields: list[FieldSpec]) -> list[FieldSpec]:
    """Add a typed flag per supported field; returns the fields that got one.

    A field whose flag would collide with a CLI option (``--json``, ``--runner``,
    ``--observers``/``--no-observers``, ...) gets no flag; it is still settable
    with ``--param`` or ``--params-file``.
    """
    taken = set(parser._option_string_actions)
    flagged = []
    for spec in sorted(fields, key=lambda f: f.name):
        kind = flag_kind(spec.type)
        if kind is None:
            continue
        negative = "--no-" + spec.flag[2:]
        if spec.flag in taken or (kind[0] == "bool" and negative in taken):
            continue
        _add_flag(parser, spec, kind)
        flagged.append(spec)
    return flagged


def _add_flag(parser: argparse.ArgumentParser, spec: FieldSpec, kind: tuple[str, type]) -> None:
    style, item = kind
    if style == "bool":
        parser.add_argument(spec.flag, dest=_dest(spec), action=argparse.BooleanOptionalAction,
                            default=None, help=_help(spec, False))
    elif style == "list":
        parser.add_argument(spec.flag, dest=_dest(spec), action="append", metavar="VALUE",
                            type=_converter(item), default=None, help=_help(spec, True))
    else:
        parser.add_argument(spec.flag, dest=_dest(spec), metavar="VALUE",
                            type=_converter(item), default=None, help=_help(spec, False))


def flag_values(namespace: argparse.Namespace, flagged: list[FieldSpec]) -> dict[str, Any]:
    """Field values given as typed flags (absent flags are left out)."""
    out = {}
    for spec in flagged:
        value = getattr(namespace, _dest(spec), None)
        if value is not None:
            out[spec.name] = value
    return out


# -- --param and --params-file --------------------------------------------------------------
@dataclass(frozen=True)
class Assignment:
    """One ``--param key=value``; the value is interpreted once the field type is known."""

    key: str
    text: str

    def value_for(self, spec: FieldSpec | None) -> Any:
        parsed = _json_or_text(self.text)
        if spec is not None and unwrap_optional(spec.type) is str \
                and not isinstance(parsed, str) and not (parsed is None and spec.admits_none):
            # --param values are JSON: 5, true and null are not text (issue 24, item 3)
            raise ParamsValidationError(
                f"invalid params: --param {self.key}={self.text}: field '{self.key}' expects "
                f"{type_label(spec.type)}, and {self.text} reads as JSON "
                f"{type(parsed).__name__ if parsed is not None else 'null'}. Fix: quote it, "
                f"--param '{self.key}=\"{self.text}\"', or use {spec.flag} {self.text}")
        return parsed


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_assignment(text: str) -> Assignment:
    """argparse ``type=`` for ``--param``: ``key=value``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return Assignment(key.strip(), value)


def assignment_values(assignments: list[Assignment] | None,
                      fields: list[FieldSpec]) -> dict[str, Any]:
    by_name = {f.name: f for f in fields}
    return {a.key: a.value_for(by_name.get(a.key)) for a in assignments or ()}


def read_params_file(path: str) -> dict[str, Any]:
    """The object stored in a JSON (or ``.yaml``/``.yml``) params file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIUsageError(f"cannot read params file '{path}': {exc}") from None
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        data, kind = _load_yaml(path, text), "a YAML mapping"
    else:
        data, kind = _load_json(path, text), "a JSON object"
    if not isinstance(data, dict):
        raise CLIUsageError(f"params file '{path}' must contain {kind}, got "
                            f"{type(data).__name__}")
    return data


def _load_json(path: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CLIUsageError(f"cannot read params file '{path}': invalid JSON ({exc.msg} at "
                            f"line {exc.lineno} col {exc.colno})") from None


def _load_yaml(path: str, text: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise CLIUsageError(f"cannot read params file '{path}': YAML files need PyYAML "
                            "(pip install pyyaml)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} col {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CLIUsageError(f"cannot read params file '{path}': invalid YAML "
                            f"({problem}{where})") from None


# -- validation and construction ---------------------------------------------------------------
def build_params(cls: Any, *, file_values: dict[str, Any],
                 direct_values: dict[str, Any]) -> Any:
    """Merge, check (``core.params_check``, as every runner does) and construct; raises
    ``CLIUsageError`` on unknown or missing fields, ``ParamsValidationError`` on values
    of the wrong type."""
    try:
        values = checked_params(None, cls, {**file_values, **direct_values})
    except ParamsError as exc:
        if exc.unknown:
            raise CLIUsageError(f"Unknown params field(s) for {exc.params}: {exc.unknown}") \
                from None
        if exc.missing:
            raise CLIUsageError(f"Missing required params field(s) for {exc.params}: "
                                f"{exc.missing}") from None
        raise ParamsValidationError(f"invalid params for {exc.params}: "
                                    + "; ".join(exc.problems)) from None
    try:
        return cls(**values)
    except Exception as exc:
        raise CLIUsageError(f"Cannot construct {cls.__name__} from provided params: "
                            f"{exc}") from None


def _schema_model(cls: Any) -> Any:
    """A pydantic model with the fields of a params class (only used for its JSON Schema)."""
    import warnings

    from pydantic import ConfigDict, Field, create_model

    fields: dict[str, Any] = {}
    for i, spec in enumerate(params_fields(cls)):
        if spec.default is not None:
            info = Field(spec.default(), alias=spec.name)
        else:
            info = Field(None if spec.admits_none else ..., alias=spec.name)
        # Positional names avoid clashes with BaseModel attributes (json, copy, model_*).
        fields[f"f{i}"] = (pydantic_type(spec.type, nested=_schema_model), info)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_model(getattr(cls, "__name__", "Params"),
                            __config__=ConfigDict(extra="forbid"), **fields)


def params_json_schema(cls: Any) -> dict[str, Any]:
    """The JSON Schema of a params file for ``cls`` (``synaflow schema NAME``)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # defaults JSON cannot show are left out
        return _schema_model(cls).model_json_schema(by_alias=True)


