"""Pipeline params checked against their class: one checker for every way in.

``run``/``async_run``/``ray_run`` (a params instance or a dict), the CLI's flags,
``--param`` and params files all end in ``checked_params``: unknown keys, missing
fields without a default and values of the wrong type are a ``ParamsError`` naming
the field, before any step runs; defaults fill in the rest.

Types are checked with pydantic. Scalars are strict, so the JSON-like strings a
params file or a command line carries are never coerced: ``"7"`` is not an ``int``,
``true`` is not an ``int``, ``5`` and ``null`` are not a ``str``. Containers, paths,
dates and the like are read as pydantic reads them (a tuple for a ``list``, a
string for a ``Path``), and then handed to the steps as the declared type.

    >>> from typing import NamedTuple
    >>> class P(NamedTuple):
    ...     path: str
    ...     n: int = 3
    >>> checked_params("demo", P, {"path": "x"})
    {'path': 'x', 'n': 3}
    >>> checked_params("demo", P, {"path": "x", "n": "7"})
    Traceback (most recent call last):
    ...
    synaflow.core.exceptions.ParamsError: Pipeline 'demo': invalid params for P: field 'n': expected int, got '7' (str, which is not read as int: pass the value itself)
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import types
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping, Union

from .exceptions import ParamsError

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


# -- the checker -----------------------------------------------------------------------------
def checked_params(pipeline: str | None, cls: Any, given: Mapping[str, Any], *,
                   readers: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """``given`` checked against params class ``cls``: field -> value, defaults filled in.
    ``readers`` (field -> steps that read it) makes a missing field's error name them.

    A value of the declared type is passed on as it is; one pydantic reads as that
    type (a tuple for a ``list``, a string for a ``Path``) is passed on converted.
    """
    fields = params_fields(cls)
    known = {f.name for f in fields}
    name = getattr(cls, "__name__", "params")
    unknown = sorted(k for k in given if k not in known)
    missing = [f.name for f in fields if f.name not in given and f.required
               and not f.admits_none]
    problems = []
    values: dict[str, Any] = {}
    for spec in fields:
        if spec.name in given:
            value, problem = _check(spec, given[spec.name])
            values[spec.name] = value
            if problem:
                problems.append(problem)
        elif spec.name not in missing:
            values[spec.name] = spec.default() if spec.default is not None else None
    if unknown or missing or problems:
        raise ParamsError(pipeline, name, unknown=unknown, missing=missing, problems=problems,
                          fields=[f.name for f in fields], readers=readers or {})
    return values


def _check(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    from pydantic import ValidationError

    adapter = _adapter(spec.type)
    if adapter is None:  # a type pydantic cannot read: taken as given
        return value, None
    try:
        read = adapter.validate_python(value)
    except ValidationError as exc:
        return value, _describe(spec, value, exc)
    return (read if _converted(spec.type, value, read) else value), None


def _converted(tp: Any, value: Any, read: Any) -> bool:
    """Hand the steps pydantic's reading only where it made the declared type out of
    another one (a container, an iterator or an instance of it stays as given)."""
    kind = typing.get_origin(unwrap_optional(tp)) or unwrap_optional(tp)
    if not isinstance(kind, type) or kind is object:
        return False
    try:
        return not isinstance(value, kind) and isinstance(read, kind)
    except TypeError:
        return False


def _describe(spec: FieldSpec, value: Any, exc: Any) -> str:
    got = repr(value)
    if len(got) > 80:
        got = got[:77] + "..."
    wanted = unwrap_optional(spec.type)
    kind = type(value).__name__
    if isinstance(value, str) and wanted in (int, float, bool):
        kind += f", which is not read as {wanted.__name__}: pass the value itself"
    text = f"field '{spec.name}': expected {type_label(spec.type)}, got {got} ({kind})"
    first = exc.errors()[0]
    if first["type"] == "value_error" and not first["loc"]:  # a nested record's own check
        text += f" ({first['ctx']['error']})"
    elif isinstance(value, (list, tuple, set, dict)) and first["loc"]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        text += f" (at {where}: {first['msg']})"
    return text


def _adapter(tp: Any) -> Any:
    """A pydantic TypeAdapter for a field type (cached); None when it cannot make one."""
    try:
        return _cached_adapter(tp)
    except TypeError:  # an unhashable annotation
        return _new_adapter(tp)


@lru_cache(maxsize=512)
def _cached_adapter(tp: Any) -> Any:
    return _new_adapter(tp)


def _new_adapter(tp: Any) -> Any:
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(pydantic_type(tp))
    except Exception:  # noqa: BLE001 - pydantic cannot read it: not checked
        return None


_REBUILT_ORIGINS = (list, set, frozenset, tuple, dict)
_STRICT = (int, float, bool, str)


def pydantic_type(tp: Any, *, nested: Callable[[Any], Any] | None = None) -> Any:
    """The declared type with bytes read as base64 and unknown classes called with the value.

    Scalars are strict. ``nested`` (for a JSON Schema) turns nested NamedTuples into
    models, so that the schema describes the objects a params file holds (pydantic
    would describe arrays).
    """
    from typing import Annotated

    from pydantic import BeforeValidator, Strict, WithJsonSchema

    if tp in _STRICT:  # no "7" -> 7, True -> 1, 5 -> "5" (JSON-like strings stay strings)
        return Annotated[tp, Strict()]
    if tp is bytes:
        return Annotated[bytes, BeforeValidator(_b64_value),
                         WithJsonSchema({"type": "string", "contentEncoding": "base64"})]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(tp):
        return Union[tuple(pydantic_type(a, nested=nested) for a in args)]
    if origin in _REBUILT_ORIGINS and args:
        return origin[tuple(a if a is Ellipsis else pydantic_type(a, nested=nested)
                            for a in args)]
    if nested and isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields"):
        return nested(tp)
    if not nested and _is_record(tp):  # checked by the same rules as the params themselves
        return _record(tp)
    if isinstance(tp, type) and origin is None and not _pydantic_knows(tp):
        return _called_with_value(tp)
    return tp


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


def _is_record(tp: Any) -> bool:
    return isinstance(tp, type) and ((issubclass(tp, tuple) and hasattr(tp, "_fields"))
                                     or dataclasses.is_dataclass(tp))


def _record(cls: type) -> Any:
    """A nested NamedTuple or dataclass: from an instance, an object or an array, with
    its fields checked as strictly as the params' own."""
    from typing import Annotated

    from pydantic import PlainValidator

    names = [f.name for f in params_fields(cls)]

    def check(value: Any) -> Any:
        if isinstance(value, cls):
            given = {n: getattr(value, n) for n in names}
        elif isinstance(value, dict):
            given = value
        elif isinstance(value, (list, tuple)) and len(value) <= len(names):
            given = dict(zip(names, value))
        else:
            raise ValueError(f"expected a {cls.__name__}, an object or an array")
        try:
            values = checked_params(None, cls, given)
        except ParamsError as exc:
            raise ValueError(str(exc).replace("params field", "field")) from None
        if isinstance(value, cls) and all(values[n] is given[n] for n in names):
            return value
        return cls(**values)
    return Annotated[Any, PlainValidator(check)]


def _called_with_value(cls: type) -> Any:
    """Any other class: an instance passes, anything else is ``cls(value)`` (as 0.32.4)."""
    from typing import Annotated

    from pydantic import PlainValidator, WithJsonSchema

    def construct(value: Any) -> Any:
        try:
            if isinstance(value, cls):
                return value
        except TypeError:  # a Protocol that cannot be checked at run time: taken as given
            return value
        try:
            return cls(value)
        except Exception as exc:
            raise ValueError(f"{cls.__name__}({value!r}) failed: {exc}") from None
    return Annotated[Any, PlainValidator(construct), WithJsonSchema({})]
