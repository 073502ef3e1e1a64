"""Codecs, key encoding and Record: Faust-identical bytes, round trips, no pickle."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest

from cluster.codecs import (
    JSON,
    RAW,
    Codec,
    DecodeError,
    FieldDescriptor,
    JsonCodec,
    ModelCodec,
    RawCodec,
    Record,
    codec_for,
    decode_key,
    decode_windowed_key,
    encode_key,
    encode_windowed_key,
)

REPO = Path(__file__).resolve().parents[2]


class PageView(Record):
    page: str
    user: str = "anon"


class Point(Record):
    x: int
    y: int


class Path_(Record):
    name: str
    start: Point
    stops: list[Point] = []
    end: Point | None = None
    by_name: dict[str, Point] = {}
    at: datetime | None = None
    box: tuple[int, int] = (0, 0)


# --- key encoding: bytes equal to Faust's ------------------------------------------------


def test_windowed_key_bytes_equal_faust() -> None:
    assert encode_windowed_key("a", (10.0, 19.9)) == json.dumps(["a", [10.0, 19.9]]).encode()
    assert encode_windowed_key("a", (10.0, 19.9)) == b'["a", [10.0, 19.9]]'


def test_windowed_key_bounds_always_floats() -> None:
    assert encode_windowed_key("a", (10, 20)) == b'["a", [10.0, 20.0]]'
    assert decode_windowed_key(b'["a", [10, 20]]') == ("a", (10.0, 20.0))


@pytest.mark.parametrize("key", ["/home", 42, -1.5, ("a", 1), ("a", ("b", 2)), None, True])
def test_windowed_key_round_trip(key: object) -> None:
    data = encode_windowed_key(key, (10.0, 19.9))
    decoded, window = decode_windowed_key(data)
    assert decoded == key and window == (10.0, 19.9)
    hash(decoded)


@pytest.mark.parametrize("key", ["/home", "ünïcode", 7, ("a", 1), [1, [2, 3]]])
def test_key_round_trip_is_hashable(key: object) -> None:
    data = encode_key(key)
    assert data == json.dumps(key).encode()
    decoded = decode_key(data)
    hash(decoded)
    assert decoded == (key if not isinstance(key, list) else (1, (2, 3)))


@pytest.mark.parametrize("data", [b"not json", b'["a"]', b'["a", [1.0]]', b"5"])
def test_bad_windowed_key(data: bytes) -> None:
    with pytest.raises(DecodeError, match="windowed key"):
        decode_windowed_key(data)


def test_bad_key() -> None:
    with pytest.raises(DecodeError, match="table key"):
        decode_key(b"{oops")


# --- codecs -----------------------------------------------------------------------------


def test_json_codec_uses_default_separators() -> None:
    value = {"a": [1, 2.5, "x"], "t": (1, 2)}
    assert JSON.dumps(value) == json.dumps(value).encode() == b'{"a": [1, 2.5, "x"], "t": [1, 2]}'
    assert JSON.loads(JSON.dumps(value)) == {"a": [1, 2.5, "x"], "t": [1, 2]}


def test_json_codec_extra_types() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    u = uuid.UUID(int=1)
    data = JSON.dumps({"when": when, "id": u, "price": Decimal("1.10"), "tags": {"x"}})
    assert json.loads(data) == {
        "when": "2024-01-02T03:04:05+00:00",
        "id": str(u),
        "price": "1.10",
        "tags": ["x"],
    }
    with pytest.raises(TypeError, match="cannot encode object"):
        JSON.dumps(object())


def test_json_loads_many_is_one_call_per_batch() -> None:
    assert JSON.loads_many([b"1", b'"a"', b"[1, 2]"]) == [1, "a", [1, 2]]


def test_loads_many_names_the_bad_payload() -> None:
    with pytest.raises(DecodeError) as info:
        JSON.loads_many([b"1", b"{bad", b"3"])
    assert info.value.index == 1 and info.value.payload == b"{bad"
    with pytest.raises(DecodeError) as info:
        ModelCodec(PageView).loads_many([b'{"page": "/"}', b'{"user": "x"}'])
    assert info.value.index == 1 and "page" in str(info.value)


def test_raw_codec() -> None:
    assert RAW.dumps(b"\x00\xff") == b"\x00\xff"
    assert RAW.dumps("é") == "é".encode()
    assert RAW.dumps(bytearray(b"ab")) == b"ab"
    assert RAW.loads(b"x") == b"x"
    assert RAW.loads_many([b"a", b"b"]) == [b"a", b"b"]
    with pytest.raises(TypeError, match="raw codec"):
        RAW.dumps(1)


def test_model_codec_round_trip_and_ignores_faust_metadata() -> None:
    codec = ModelCodec(PageView)
    view = PageView("/home", "bob")
    assert codec.dumps(view) == b'{"page": "/home", "user": "bob"}'
    assert codec.loads(codec.dumps(view)) == view
    faust_bytes = b'{"page": "/home", "user": "bob", "__faust": {"ns": "app.PageView"}}'
    loaded = codec.loads(faust_bytes)
    assert loaded == view and not hasattr(loaded, "__faust")
    assert codec.loads_many([faust_bytes, b'{"page": "/x"}']) == [view, PageView("/x")]


@pytest.mark.parametrize(
    "data, match",
    [(b"[1]", "JSON object"), (b"{", "not JSON"), (b'{"user": "x"}', "missing required field")],
)
def test_model_codec_bad_payloads(data: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        ModelCodec(PageView).loads(data)


def test_codec_for() -> None:
    assert codec_for(None) is JSON and codec_for("json") is JSON
    assert codec_for("raw") is RAW and codec_for(bytes) is RAW
    for spec in (str, int, float):
        assert codec_for(spec) is JSON
    assert codec_for(PageView) == ModelCodec(PageView)
    custom = JsonCodec()
    assert codec_for(custom) is custom
    assert isinstance(RawCodec(), Codec) and JSON == JsonCodec()


@pytest.mark.parametrize("spec", ["pickle", object, 3, Record, object()])
def test_codec_for_unknown_spec(spec: object) -> None:
    with pytest.raises(ValueError) as info:
        codec_for(spec)
    assert repr(spec) in str(info.value) and "'json', 'raw'" in str(info.value)


def test_model_codec_needs_a_record() -> None:
    with pytest.raises(TypeError, match="Record subclass"):
        ModelCodec(dict)  # type: ignore[arg-type]


# --- Record -----------------------------------------------------------------------------


def test_record_init_eq_repr() -> None:
    assert PageView("/home") == PageView(page="/home", user="anon")
    assert PageView("/a", "u").user == "u"
    assert PageView("/a") != PageView("/b")
    assert PageView("/a") != Point(1, 2)
    assert repr(PageView("/a")) == "PageView(page='/a', user='anon')"
    assert hash(PageView("/a")) == hash(PageView("/a"))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: PageView(), "PageView\\(\\) missing required field 'page'"),
        (lambda: PageView("/", "u", "extra"), "takes 2 fields"),
        (lambda: PageView("/", page="/"), "multiple values for field 'page'"),
        (lambda: PageView("/", color="red"), "unexpected field 'color'"),
    ],
)
def test_record_init_errors(make, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        make()


def test_class_access_gives_field_descriptor() -> None:
    field = PageView.page
    assert isinstance(field, FieldDescriptor)
    assert (field.name, field.field, field.model, field.type) == ("page", "page", PageView, str)
    view = PageView("/home")
    assert field.getattr(view) == field(view) == "/home"
    assert view.page == "/home" and type(view.page) is str
    assert "page" in vars(view)  # the instance dict wins: a plain attribute read


def test_from_dict_to_dict() -> None:
    assert PageView.from_dict({"page": "/x", "unknown": 1}).to_dict() == {
        "page": "/x",
        "user": "anon",
    }
    with pytest.raises(TypeError, match="PageView.from_dict\\(\\) missing required field 'page'"):
        PageView.from_dict({"user": "x"})


def test_nested_records_decode() -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    path = Path_(
        "p",
        Point(0, 0),
        stops=[Point(1, 1)],
        end=Point(2, 2),
        by_name={"mid": Point(3, 3)},
        at=when,
        box=(4, 5),
    )
    data = path.dumps()
    assert json.loads(data)["stops"] == [{"x": 1, "y": 1}]
    assert Path_.loads(data) == path
    assert path.to_dict()["by_name"] == {"mid": {"x": 3, "y": 3}}
    assert Path_.from_dict({"name": "q", "start": {"x": 0, "y": 0}}).end is None


def test_mutable_defaults_are_per_instance() -> None:
    a, b = Path_("a", Point(0, 0)), Path_("b", Point(0, 0))
    a.stops.append(Point(1, 1))
    assert b.stops == []


def test_inheritance_and_classvars() -> None:
    class Base(Record):
        kind: ClassVar[str] = "base"
        a: int
        _private: int = 0

    class Child(Base):
        b: str = "x"

    assert Child._rt_fields == ("a", "b")
    assert Child(1).to_dict() == {"a": 1, "b": "x"}
    assert Child.a.model is Child and Base.a.model is Base


def test_class_definition_errors() -> None:
    with pytest.raises(TypeError, match="'b' without a default follows field 'a'"):

        class Bad(Record):
            a: int = 1
            b: int

    with pytest.raises(TypeError, match="'dumps' is reserved"):

        class Clash(Record):
            dumps: str


def test_post_init_validates() -> None:
    class Positive(Record):
        n: int

        def __post_init__(self) -> None:
            if self.n <= 0:
                raise ValueError("n must be positive")

    with pytest.raises(ValueError):
        Positive(0)
    with pytest.raises(DecodeError, match="positive"):
        ModelCodec(Positive).loads(b'{"n": -1}')


def test_record_instances_pickle() -> None:
    view = PageView("/x")
    assert pickle.loads(pickle.dumps(view)) == view


def test_records_from_a_user_script_cloudpickle_by_value(tmp_path: Path) -> None:
    """Classes defined in a script's ``__main__`` travel by value to Ray workers."""
    script = tmp_path / "user_script.py"
    script.write_text(
        textwrap.dedent(
            """
            from __future__ import annotations
            import sys
            import cloudpickle
            from cluster.codecs import Record

            class Point(Record):
                x: int
                y: int = 0

            class Trip(Record):
                start: Point
                stops: list[Point] = []

            class Point3(Point):
                z: int = 0

            trip = Trip(Point(1), [Point(2, 3)])
            sys.stdout.buffer.write(cloudpickle.dumps((Trip, trip, trip.dumps(), Point3(4, 5, 6))))
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        check=True,
        env={"PYTHONPATH": str(REPO)},
    ).stdout
    trip_cls, trip, data, point3 = pickle.loads(out)
    assert trip_cls.__module__ == "__main__" and trip_cls.start.model is trip_cls
    assert trip.start.x == 1 and trip.stops[0].y == 3
    assert type(point3)._rt_fields == ("x", "y", "z") and point3.to_dict() == {
        "x": 4,
        "y": 5,
        "z": 6,
    }
    assert trip_cls.loads(data) == trip
    assert isinstance(trip_cls.from_dict(json.loads(data)).stops[0], type(trip.start))
