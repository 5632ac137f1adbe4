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
import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

from .context import CLIUsageError, ParamsValidationError

RESERVED_FIELDS = ("no_observers", "params_file")
_FLAG_SCALARS = (str, int, float)
_LIST_ITEMS = (str, int, float, bool, bytes)
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_MISSING = object()


# -- the params class ---------------------------------------------------------------------
@dataclass(frozen=True)
class FieldSpec:
    """One field of a params class: its declared type and how it defaults."""

    name: str
    type: Any
    default: Callable[[], Any] | None

    @property
    def required(self) -> bool:
        return self.default is None

    @property
    def admits_none(self) -> bool:
        return admits_none(self.type)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def params_fields(cls: Any) -> list[FieldSpec]:
    """The fields of a NamedTuple or dataclass params class, in declaration order."""
    hints = _hints(cls)
    if dataclasses.is_dataclass(cls):
        return [FieldSpec(f.name, hints.get(f.name, Any), _dataclass_default(f))
                for f in dataclasses.fields(cls) if f.init]
    defaults = getattr(cls, "_field_defaults", {})
    return [FieldSpec(name, hints.get(name, Any),
                      (lambda v=defaults[name]: v) if name in defaults else None)
            for name in getattr(cls, "_fields", ())]


def _hints(cls: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        return {k: v for k, v in getattr(cls, "__annotations__", {}).items()
                if not isinstance(v, str)}


def _dataclass_default(f: dataclasses.Field) -> Callable[[], Any] | None:
    if f.default is not dataclasses.MISSING:
        return lambda: f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory
    return None


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def admits_none(tp: Any) -> bool:
    """True for ``Optional[X]``, ``X | None`` and ``None`` itself."""
    if tp is None or tp is type(None):
        return True
    return _is_union(tp) and type(None) in typing.get_args(tp)


def unwrap_optional(tp: Any) -> Any:
    """``Optional[X]`` -> ``X``; other types unchanged."""
    if _is_union(tp):
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return tp


def type_label(tp: Any) -> str:
    """A type as users write it: ``int``, ``list[int]``, ``Optional[Inner]`` (no module paths)."""
    if tp is type(None) or tp is None:
        return "None"
    if tp is Ellipsis:
        return "..."
    args = typing.get_args(tp)
    if _is_union(tp):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return f"Optional[{type_label(rest[0])}]"
        return " | ".join(type_label(a) for a in args)
    origin = typing.get_origin(tp)
    if origin is not None and args:
        name = getattr(origin, "__name__", None) or str(origin).replace("typing.", "")
        return f"{name}[{', '.join(_arg_label(a) for a in args)}]"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _arg_label(arg: Any) -> str:
    """Literal values and Annotated metadata print as values, everything else as a type."""
    if isinstance(arg, (str, bytes, int, float)) and not isinstance(arg, type):
        return repr(arg)
    return type_label(arg)


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
        if spec is not None and unwrap_optional(spec.type) is str:
            # A str field keeps the text as typed (--param label=42 is "42"), except
            # that null still means None for Optional[str].
            return None if parsed is None and spec.admits_none else self.text
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
    """Merge, check, validate and construct; raises ``CLIUsageError`` on bad input."""
    fields = params_fields(cls)
    given = {**file_values, **direct_values}
    known = {f.name for f in fields}
    unknown = sorted(k for k in given if k not in known)
    if unknown:
        raise CLIUsageError(f"Unknown params field(s) for {cls.__name__}: {unknown}")
    missing = [f.name for f in fields
               if f.name not in given and f.required and not f.admits_none]
    if missing:
        raise CLIUsageError(f"Missing required params field(s) for {cls.__name__}: {missing}")
    values = validate_values(cls, fields, given)
    for spec in fields:
        if spec.name not in values:
            values[spec.name] = spec.default() if spec.default is not None else None
    try:
        return cls(**values)
    except Exception as exc:
        raise CLIUsageError(f"Cannot construct {cls.__name__} from provided params: "
                            f"{exc}") from None


def validate_values(cls: Any, fields: list[FieldSpec], given: dict[str, Any]) -> dict[str, Any]:
    """Each given value validated (and coerced) by pydantic against its field type."""
    from pydantic import ValidationError

    out, problems = {}, []
    for spec in fields:
        if spec.name not in given:
            continue
        value = given[spec.name]
        try:
            out[spec.name] = _adapter(spec.type).validate_python(value)
        except ValidationError as exc:
            problems.append(_describe(spec, value, exc))
    if problems:
        raise ParamsValidationError(f"invalid params for {cls.__name__}: " + "; ".join(problems))
    return out


def _describe(spec: FieldSpec, value: Any, exc: Any) -> str:
    got = repr(value)
    if len(got) > 80:
        got = got[:77] + "..."
    text = f"field '{spec.name}': expected {type_label(spec.type)}, got {got}"
    first = exc.errors()[0]
    if isinstance(value, (list, tuple, set, dict)) and first["loc"]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        text += f" (at {where}: {first['msg']})"
    return text


def _adapter(tp: Any) -> Any:
    from pydantic import ConfigDict, PydanticUserError, TypeAdapter

    tp = _pydantic_type(tp)
    try:
        # Numbers become strings for str fields (a params file with "label": 7).
        return TypeAdapter(tp, config=ConfigDict(coerce_numbers_to_str=True))
    except PydanticUserError:  # a type carrying its own pydantic config
        return TypeAdapter(tp)


_REBUILT_ORIGINS = (list, set, frozenset, tuple, dict)


def _pydantic_type(tp: Any, *, for_schema: bool = False) -> Any:
    """The declared type with bytes read as base64 and unknown classes called with the value.

    ``for_schema`` also turns nested NamedTuples into models, so that the JSON Schema
    describes the objects a params file holds (pydantic would describe arrays).
    """
    from typing import Annotated

    from pydantic import BeforeValidator, WithJsonSchema

    if tp is bytes:
        return Annotated[bytes, BeforeValidator(_b64_value),
                         WithJsonSchema({"type": "string", "contentEncoding": "base64"})]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(tp):
        return Union[tuple(_pydantic_type(a, for_schema=for_schema) for a in args)]
    if origin in _REBUILT_ORIGINS and args:
        return origin[tuple(a if a is Ellipsis else _pydantic_type(a, for_schema=for_schema)
                            for a in args)]
    if for_schema and isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields"):
        return _schema_model(tp)
    if isinstance(tp, type) and origin is None and not _pydantic_knows(tp):
        return _called_with_value(tp)
    return tp


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
        fields[f"f{i}"] = (_pydantic_type(spec.type, for_schema=True), info)
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


def _b64_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be valid base64") from None
    return value


def _pydantic_knows(tp: type) -> bool:
    from pydantic import TypeAdapter
    from pydantic.errors import PydanticSchemaGenerationError

    try:
        TypeAdapter(tp)
    except PydanticSchemaGenerationError:
        return False
    except Exception:
        return True
    return True


def _called_with_value(cls: type) -> Any:
    """Any other class: an instance passes, anything else is ``cls(value)`` (as 0.32.4)."""
    from typing import Annotated

    from pydantic import PlainValidator, WithJsonSchema

    def construct(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except Exception as exc:
            raise ValueError(f"{cls.__name__}({value!r}) failed: {exc}") from None
    return Annotated[Any, PlainValidator(construct), WithJsonSchema({})]
