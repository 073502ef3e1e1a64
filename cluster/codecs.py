"""Codecs for Kafka payloads and table keys, and ``Record``, a Faust-like model.

Event payloads come from outside the cluster, so they are decoded by json /
raw / model codecs and never unpickled (cloudpickle is for code and state that
travel through Ray). JSON uses Python's default separators so the bytes equal
what Faust writes: a windowed changelog key is ``b'["a", [10.0, 19.9]]'``.
"""

from __future__ import annotations

import inspect
import json
import typing
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from types import UnionType
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

__all__ = [
    "Codec",
    "DecodeError",
    "FieldDescriptor",
    "JsonCodec",
    "ModelCodec",
    "RawCodec",
    "Record",
    "JSON",
    "RAW",
    "codec_for",
    "decode_key",
    "decode_windowed_key",
    "encode_key",
    "encode_windowed_key",
]


R = TypeVar("R", bound="Record")

# --- Record ----------------------------------------------------------------------------

_RESERVED = frozenset({"to_dict", "from_dict", "dumps", "loads"})


class FieldDescriptor:
    """``PageView.page``: names a field of a model, for ``group_by`` and friends.

    A non-data descriptor (only ``__get__``), so on instances the value stored
    in ``__dict__`` wins and ``view.page`` is a plain attribute read.
    """

    def __init__(
        self, name: str, model: type[Record], type: Any, required: bool, default: Any = None
    ) -> None:
        self.name = name
        self.model = model
        self.type = type
        self.required = required
        self.default = default

    @property
    def field(self) -> str:
        """Faust's name for ``name``."""
        return self.name

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        if self.required:  # only reachable after ``del obj.<field>``
            raise AttributeError(f"{self.model.__name__!s} has no value for {self.name!r}")
        return self.default

    def getattr(self, obj: Any) -> Any:
        """The field's value on ``obj`` (a record of this model)."""
        return getattr(obj, self.name)

    def __call__(self, obj: Any) -> Any:
        return getattr(obj, self.name)

    def __repr__(self) -> str:
        type_name = getattr(self.type, "__name__", self.type)
        return f"<FieldDescriptor: {self.model.__qualname__}.{self.name}: {type_name}>"


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.split("[", 1)[0].split(".")[-1] == "ClassVar"
    return annotation is ClassVar or typing.get_origin(annotation) is ClassVar


def _copy_default(value: Any) -> Any:
    """Give each instance its own mutable default (dataclasses forbid them instead)."""
    return value.copy() if isinstance(value, (list, dict, set)) else value


class Record:
    """A Faust-Record-like model built from class annotations.

    ``class PageView(cluster.Record): page: str; user: str = "anon"`` gets an
    ``__init__`` (positional or keyword, defaults applied), ``==``, ``repr``,
    ``to_dict``/``from_dict`` and JSON ``dumps``/``loads``. Fields whose
    annotation is a Record (or ``list[R]``, ``R | None``, ``dict[str, R]``,
    ``datetime``, ``tuple``) are rebuilt by ``from_dict``. Override
    ``__post_init__`` to validate.
    """

    _rt_fields: ClassVar[tuple[str, ...]] = ()
    _rt_defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        annotations: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        for base in reversed(cls.__mro__[1:]):
            if issubclass(base, Record) and base is not Record:
                for name in base._rt_fields:
                    field = base.__dict__.get(name)
                    annotations[name] = getattr(field, "type", Any)
                    if name in base._rt_defaults:
                        defaults[name] = base._rt_defaults[name]
                    else:
                        defaults.pop(name, None)
        for name, annotation in inspect.get_annotations(cls).items():
            if name.startswith("_") or _is_classvar(annotation):
                continue
            if name in _RESERVED:
                raise TypeError(f"{cls.__name__}: field name {name!r} is reserved by Record")
            annotations[name] = annotation
            if name in cls.__dict__:
                defaults[name] = cls.__dict__[name]
            else:
                defaults.pop(name, None)
        seen_default = None
        for name in annotations:
            if name in defaults:
                seen_default = name
            elif seen_default is not None:
                raise TypeError(
                    f"{cls.__name__}: field {name!r} without a default follows "
                    f"field {seen_default!r} with one"
                )
        for name, annotation in annotations.items():
            required = name not in defaults
            field = FieldDescriptor(name, cls, annotation, required, defaults.get(name))
            setattr(cls, name, field)
        cls._rt_fields = tuple(annotations)
        cls._rt_defaults = defaults
        _resolve_types(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        fields = cls._rt_fields
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__}() takes {len(fields)} fields, got {len(args)}")
        values = self.__dict__
        for name, value in zip(fields, args, strict=False):
            values[name] = value
        for name, value in kwargs.items():
            if name in values:
                raise TypeError(f"{cls.__name__}() got multiple values for field {name!r}")
            if name not in fields:
                raise TypeError(f"{cls.__name__}() got an unexpected field {name!r}")
            values[name] = value
        if len(values) < len(fields):
            _fill_defaults(cls, values, "()")
        self.__post_init__()

    def __post_init__(self) -> None:
        """Hook for validation after ``__init__`` and ``from_dict``."""

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """Build from a decoded JSON object; unknown keys are ignored (not stored)."""
        self = cls.__new__(cls)
        values = self.__dict__
        decoders = _decoders(cls)
        for name in cls._rt_fields:
            if name in data:
                value = data[name]
                values[name] = decoders[name](value) if name in decoders else value
        if len(values) < len(cls._rt_fields):
            _fill_defaults(cls, values, ".from_dict()")
        self.__post_init__()
        return self

    def to_dict(self) -> dict[str, Any]:
        """Field values by name; nested Records become dicts too."""
        values = self.__dict__
        return {name: _deep_plain(values[name]) for name in type(self)._rt_fields}

    def dumps(self) -> bytes:
        """This record as JSON bytes (what ``ModelCodec`` writes)."""
        return _ENCODER.encode(self).encode()

    @classmethod
    def loads(cls: type[R], data: bytes) -> R:
        """Inverse of ``dumps``."""
        return ModelCodec(cls).loads(data)  # type: ignore[return-value]

    def _rt_values(self) -> tuple[Any, ...]:
        values = self.__dict__
        return tuple([values.get(name) for name in type(self)._rt_fields])

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._rt_values() == other._rt_values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._rt_values()))

    def __repr__(self) -> str:
        values = self.__dict__
        args = ", ".join(f"{name}={values.get(name)!r}" for name in type(self)._rt_fields)
        return f"{type(self).__name__}({args})"


def _fill_defaults(cls: type[Record], values: dict[str, Any], where: str) -> None:
    defaults = cls._rt_defaults
    for name in cls._rt_fields:
        if name not in values:
            if name not in defaults:
                raise TypeError(f"{cls.__name__}{where} missing required field {name!r}")
            values[name] = _copy_default(defaults[name])


def _deep_plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return type(value)(_deep_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _deep_plain(v) for k, v in value.items()}
    return value


def to_plain(obj: Any) -> Any:
    """``JSONEncoder.default``: what JSON cannot encode natively (like Faust's encoder)."""
    if isinstance(obj, Record):
        values = obj.__dict__
        return {name: values[name] for name in type(obj)._rt_fields}
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, (uuid.UUID, Decimal)):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON: {obj!r}")


# Decoders are resolved lazily (annotations may be forward references) and kept
# out of the class so cloudpickle never ships them.
_DECODERS: weakref.WeakKeyDictionary[type, dict[str, Callable[[Any], Any]]] = (
    weakref.WeakKeyDictionary()
)


def _resolve_types(cls: type[Record]) -> None:
    """Turn string annotations into types on the field descriptors, where possible.

    Tried when the class is made (so a class cloudpickled to another process
    carries real types) and again on first decode (for forward references).
    """
    fields = [cls.__dict__[name] for name in cls._rt_fields]
    if not any(isinstance(f.type, str) for f in fields):
        return
    try:
        hints = typing.get_type_hints(cls, localns={cls.__name__: cls})
    except Exception:  # a forward reference not defined yet: keep the strings
        return
    for field in fields:
        field.type = hints.get(field.name, field.type)


def _decoders(cls: type[Record]) -> dict[str, Callable[[Any], Any]]:
    try:
        return _DECODERS[cls]
    except KeyError:
        pass
    _resolve_types(cls)
    decoders = {}
    for name in cls._rt_fields:
        decoder = _decoder_for(cls.__dict__[name].type)
        if decoder is not None:
            decoders[name] = decoder
    _DECODERS[cls] = decoders
    return decoders


def _decoder_for(hint: Any) -> Callable[[Any], Any] | None:
    """A function rebuilding a JSON value as ``hint`` describes, or None if JSON is enough."""
    if isinstance(hint, type):
        if issubclass(hint, Record):
            return lambda v: hint.from_dict(v) if isinstance(v, dict) else v
        if hint is datetime or hint is date:
            return lambda v: hint.fromisoformat(v) if isinstance(v, str) else v
        if hint in (tuple, set, frozenset):
            return lambda v: hint(v) if isinstance(v, list) else v
        return None
    origin: Any = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is UnionType:
        options = [a for a in args if a is not type(None)]
        return _decoder_for(options[0]) if len(options) == 1 else None
    if origin in (list, tuple, set, frozenset) and args:
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            parts = [_decoder_for(a) or (lambda v: v) for a in args]
            return lambda v: (
                tuple(p(x) for p, x in zip(parts, v, strict=False)) if isinstance(v, list) else v
            )
        item = _decoder_for(args[0])
        if item is None:
            return None if origin is list else _decoder_for(origin)
        each: Callable[[Any], Any] = item  # bound for the closure
        return lambda v: origin(each(x) for x in v) if isinstance(v, list) else v
    if origin is dict and len(args) == 2:
        value = _decoder_for(args[1])
        if value is not None:
            val: Callable[[Any], Any] = value
            return lambda v: {k: val(x) for k, x in v.items()} if isinstance(v, dict) else v
    return None


# --- codecs ----------------------------------------------------------------------------


class DecodeError(ValueError):
    """A payload could not be decoded; the runtime reports it with topic/partition/offset.

    ``index`` is the position of the bad payload within a ``loads_many`` batch
    (None for a single ``loads``), so the caller can name the exact offset and
    decode the rest of the batch.
    """

    def __init__(self, message: str, index: int | None = None, payload: bytes = b"") -> None:
        super().__init__(message)
        self.index = index
        self.payload = payload


@runtime_checkable
class Codec(Protocol):
    """Turns values into bytes and back; ``loads_many`` decodes a whole poll batch at once."""

    def dumps(self, obj: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...

    def loads_many(self, data: Sequence[bytes]) -> list[Any]: ...


_ENCODER = json.JSONEncoder(default=to_plain)  # default separators: ", " and ": "
_json_loads = json.loads


def _batch_error(loads: Callable[[bytes], Any], data: Sequence[bytes]) -> DecodeError:
    """Find the first payload of a failed batch that does not decode (slow path only)."""
    for index, payload in enumerate(data):
        try:
            loads(payload)
        except DecodeError as exc:
            return DecodeError(f"payload {index} of the batch: {exc}", index, payload)
    return DecodeError("batch failed to decode but no single payload fails")


def _snippet(data: bytes) -> str:
    return repr(data[:80]) + ("..." if len(data) > 80 else "")


class _Stateless:
    """Codecs without configuration: all instances are equal."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


class JsonCodec(_Stateless):
    """JSON, byte-for-byte as Faust (``json.dumps`` defaults); tuples become lists.

    Records, dates, UUIDs, Decimals and sets are turned into JSON values on the
    way out; on the way in you get plain JSON values (use ``ModelCodec`` for
    typed records).
    """

    def dumps(self, obj: Any) -> bytes:
        return _ENCODER.encode(obj).encode()

    def loads(self, data: bytes) -> Any:
        try:
            return _json_loads(data)
        except (ValueError, TypeError) as exc:
            raise DecodeError(f"not JSON ({exc}): {_snippet(data)}", None, data) from exc

    def loads_many(self, data: Sequence[bytes]) -> list[Any]:
        try:
            return [_json_loads(b) for b in data]
        except (ValueError, TypeError) as exc:
            raise _batch_error(self.loads, data) from exc


class RawCodec(_Stateless):
    """Bytes pass through untouched (``str`` is encoded as UTF-8 on the way out)."""

    def dumps(self, obj: Any) -> bytes:
        if isinstance(obj, bytes):
            return obj
        if isinstance(obj, str):
            return obj.encode()
        if isinstance(obj, (bytearray, memoryview)):
            return bytes(obj)
        raise TypeError(f"raw codec takes bytes or str, got {type(obj).__name__}: {obj!r}")

    def loads(self, data: bytes) -> bytes:
        return data

    def loads_many(self, data: Sequence[bytes]) -> list[bytes]:
        return list(data)


class ModelCodec:
    """JSON on the wire; ``loads`` builds ``model_cls`` with ``from_dict``.

    Unknown keys in the payload (e.g. Faust's ``__faust`` metadata) are
    ignored; a missing required field is a ``DecodeError``.
    """

    def __init__(self, model_cls: type[Record]) -> None:
        if not (isinstance(model_cls, type) and issubclass(model_cls, Record)) or (
            model_cls is Record
        ):
            raise TypeError(f"ModelCodec needs a Record subclass, got {model_cls!r}")
        self.model_cls = model_cls

    def dumps(self, obj: Any) -> bytes:
        return _ENCODER.encode(obj).encode()

    def loads(self, data: bytes) -> Record:
        try:
            value = _json_loads(data)
        except (ValueError, TypeError) as exc:
            raise DecodeError(f"not JSON ({exc}): {_snippet(data)}", None, data) from exc
        if not isinstance(value, dict):
            name = self.model_cls.__name__
            raise DecodeError(f"{name} needs a JSON object, got {_snippet(data)}", None, data)
        try:
            return self.model_cls.from_dict(value)
        except (TypeError, ValueError) as exc:
            raise DecodeError(f"{exc}: {_snippet(data)}", None, data) from exc

    def loads_many(self, data: Sequence[bytes]) -> list[Record]:
        from_dict = self.model_cls.from_dict
        try:
            return [from_dict(_json_loads(b)) for b in data]
        except (ValueError, TypeError, AttributeError) as exc:
            raise _batch_error(self.loads, data) from exc

    def __repr__(self) -> str:
        return f"ModelCodec({self.model_cls.__qualname__})"

    def __eq__(self, other: object) -> bool:
        return type(other) is ModelCodec and other.model_cls is self.model_cls

    def __hash__(self) -> int:
        return hash((ModelCodec, self.model_cls))


JSON = JsonCodec()
RAW = RawCodec()

_NAMED: dict[str, Codec] = {"json": JSON, "raw": RAW}
_JSON_TYPES = (str, int, float, bool, dict, list)
_ACCEPTED = (
    "None, 'json', 'raw', bytes, str, int, float, bool, dict, list, "
    "a cluster.Record subclass, or a Codec instance (dumps/loads/loads_many)"
)


def codec_for(spec: Any) -> Codec:
    """Resolve a topic's or table's ``key_type``/``value_type`` to a codec.

    Done once when a topic or table is declared, so a typo fails at startup
    rather than on the first event.
    """
    if spec is None:
        return JSON
    if isinstance(spec, str):
        if spec in _NAMED:
            return _NAMED[spec]
    elif spec is bytes:
        return RAW
    elif spec in _JSON_TYPES:
        return JSON
    elif isinstance(spec, type):
        if issubclass(spec, Record) and spec is not Record:
            return ModelCodec(spec)
    elif isinstance(spec, Codec):
        return spec
    raise ValueError(f"unknown codec {spec!r}: expected {_ACCEPTED}")


# --- table keys ------------------------------------------------------------------------


def _hashable(value: Any) -> Any:
    """JSON gives lists back; keys must be hashable, so lists become tuples (recursively)."""
    if type(value) is list:
        return tuple([_hashable(v) for v in value])
    return value


def encode_key(key: Any) -> bytes:
    """A table key as changelog/store bytes: JSON, as Faust's default key serializer."""
    return _ENCODER.encode(key).encode()


def decode_key(data: bytes) -> Any:
    """Inverse of ``encode_key``; tuple keys come back as tuples (JSON lists are tuplified)."""
    try:
        return _hashable(_json_loads(data))
    except (ValueError, TypeError) as exc:
        raise DecodeError(f"table key is not JSON ({exc}): {_snippet(data)}", None, data) from exc


def encode_windowed_key(key: Any, window: tuple[float, float]) -> bytes:
    """Faust's windowed key ``[key, [start, end]]`` with float bounds.

    Bounds are floats so ``10`` and ``10.0`` give the same bytes (one store key).
    """
    start, end = window
    return _ENCODER.encode([key, [float(start), float(end)]]).encode()


def decode_windowed_key(data: bytes) -> tuple[Any, tuple[float, float]]:
    """Inverse of ``encode_windowed_key``: ``(key, (start, end))``, tuple keys as tuples."""
    try:
        key, (start, end) = _json_loads(data)
        return _hashable(key), (float(start), float(end))
    except (ValueError, TypeError) as exc:
        raise DecodeError(
            f"not a windowed key [key, [start, end]] ({exc}): {_snippet(data)}", None, data
        ) from exc
