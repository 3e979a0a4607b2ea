"""etl.lake.lake on local Delta tables with small specs of our own."""

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from etl.lake.lake import Lake, LakeError, table_description
from etl.lake.rows import cast_to_spec, in_predicate, sql_string
from schemas.spec import TableSpec

THINGS = TableSpec(
    name="things",
    schema=pa.schema(
        [
            pa.field("video_id", pa.string(), nullable=False),
            pa.field("frame", pa.int32(), nullable=False),
            pa.field("score", pa.float32()),
        ]
    ),
)

PARTED = TableSpec(
    name="parted",
    partition_by=("split",),
    schema=pa.schema(
        [
            pa.field("video_id", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("frame", pa.int32(), nullable=False),
        ]
    ),
)


def _things(rows):
    return pa.table(
        {"video_id": [r[0] for r in rows], "frame": [r[1] for r in rows], "score": [r[2] for r in rows]},
        schema=THINGS.schema,
    )


def _parted(rows):
    return pa.table(
        {"video_id": [r[0] for r in rows], "split": [r[1] for r in rows], "frame": [r[2] for r in rows]},
        schema=PARTED.schema,
    )


def _rows(lake, spec):
    table = lake.read(spec)
    return sorted(tuple(r[n] for n in spec.schema.names) for r in table.to_pylist())


@pytest.fixture
def lake(tmp_path):
    return Lake(str(tmp_path / "lake"))


def test_empty_root_is_refused():
    with pytest.raises(ValueError, match="lake root is empty"):
        Lake("")


def test_root_is_made_absolute_and_uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lake = Lake("rel/lake")
    assert lake.root == str(tmp_path / "rel" / "lake")
    assert lake.uri(THINGS) == str(tmp_path / "rel" / "lake" / "things")
    assert Lake("s3://bucket/lake/").uri(THINGS) == "s3://bucket/lake/things"


@pytest.mark.parametrize("spec", [THINGS, PARTED], ids=["plain", "partitioned"])
def test_ensure_creates_empty_table_with_schema(lake, spec):
    assert not lake.exists(spec)
    assert lake.version(spec) is None
    lake.ensure(spec)
    assert lake.exists(spec)
    table = lake.read(spec)
    assert table.num_rows == 0
    assert table.schema == spec.schema
    delta = DeltaTable(lake.uri(spec))
    assert delta.metadata().description == f"facelake {spec.name} schema v1" == table_description(spec)
    assert list(delta.metadata().partition_columns) == list(spec.partition_by)
    version = lake.version(spec)
    lake.ensure(spec)  # second call: no new commit
    assert lake.version(spec) == version


def test_read_missing_table_is_empty_with_spec_schema(lake):
    table = lake.read(THINGS)
    assert table.num_rows == 0
    assert table.schema == THINGS.schema
    subset = lake.read(THINGS, columns=["frame", "video_id"])
    assert subset.schema.names == ["frame", "video_id"]
    assert subset.schema.field("frame").type == pa.int32()
    assert lake.file_uris(THINGS) == []
    assert not lake.exists(THINGS)


def test_append_then_replace_where(lake):
    lake.ensure(THINGS)
    lake.append(THINGS, _things([("a", 0, 0.5), ("a", 1, 0.25), ("b", 0, 1.0), ("c", 0, 2.0), ("c", 1, 3.0)]))
    assert _rows(lake, THINGS) == [("a", 0, 0.5), ("a", 1, 0.25), ("b", 0, 1.0), ("c", 0, 2.0), ("c", 1, 3.0)]
    lake.replace_where(THINGS, _things([("a", 7, 9.0), ("c", 5, 8.0)]), predicate=in_predicate("video_id", ["c", "a"]))
    assert _rows(lake, THINGS) == [("a", 7, 9.0), ("b", 0, 1.0), ("c", 5, 8.0)]
    filtered = lake.read(THINGS, filters=[("video_id", "=", "c")])
    assert filtered.to_pylist() == [{"video_id": "c", "frame": 5, "score": 8.0}]


def test_append_empty_table_is_a_noop(lake):
    lake.append(THINGS, _things([]))
    assert not lake.exists(THINGS)
    lake.ensure(THINGS)
    version = lake.version(THINGS)
    lake.append(THINGS, _things([]))
    assert lake.version(THINGS) == version


def test_replace_where_with_empty_table_deletes_matching_rows(lake):
    lake.append(THINGS, _things([("a", 0, 0.5), ("b", 0, 1.0), ("b", 1, 1.5), ("c", 0, 2.0)]))
    lake.replace_where(THINGS, _things([]), predicate=in_predicate("video_id", ["b"]))
    assert _rows(lake, THINGS) == [("a", 0, 0.5), ("c", 0, 2.0)]
    # on a table that does not exist yet, deleting nothing creates nothing
    other = TableSpec(name="other", schema=THINGS.schema)
    lake.replace_where(other, _things([]), predicate=in_predicate("video_id", ["b"]))
    assert not lake.exists(other)


def test_replace_where_creates_missing_table(lake):
    lake.replace_where(THINGS, _things([("a", 0, 0.5)]), predicate=in_predicate("video_id", ["a"]))
    assert _rows(lake, THINGS) == [("a", 0, 0.5)]
    assert DeltaTable(lake.uri(THINGS)).metadata().description == "facelake things schema v1"


def test_replace_where_is_idempotent(lake):
    lake.append(THINGS, _things([("a", 0, 0.5), ("b", 0, 1.0)]))
    rows = _things([("b", 0, 4.0), ("b", 1, 5.0)])
    predicate = in_predicate("video_id", ["b"])
    lake.replace_where(THINGS, rows, predicate=predicate)
    once = _rows(lake, THINGS)
    version = lake.version(THINGS)
    lake.replace_where(THINGS, rows, predicate=predicate)
    assert _rows(lake, THINGS) == once == [("a", 0, 0.5), ("b", 0, 4.0), ("b", 1, 5.0)]
    assert lake.version(THINGS) == version + 1  # one commit per call
    assert lake.read(THINGS).num_rows == 3


def test_partitioned_replace_where(lake):
    lake.ensure(PARTED)
    lake.append(PARTED, _parted([("a", "train", 0), ("a", "train", 1), ("b", "test", 0), ("c", "train", 0)]))
    lake.replace_where(
        PARTED, _parted([("a", "train", 9), ("b", "test", 3)]), predicate=in_predicate("video_id", ["a", "b"])
    )
    assert _rows(lake, PARTED) == [("a", "train", 9), ("b", "test", 3), ("c", "train", 0)]
    lake.replace_where(
        PARTED, _parted([("a", "train", 9), ("b", "test", 3)]), predicate=in_predicate("video_id", ["a", "b"])
    )
    assert _rows(lake, PARTED) == [("a", "train", 9), ("b", "test", 3), ("c", "train", 0)]
    lake.replace_where(PARTED, _parted([]), predicate=in_predicate("video_id", ["c"]))
    assert _rows(lake, PARTED) == [("a", "train", 9), ("b", "test", 3)]
    assert lake.read(PARTED).schema == PARTED.schema
    assert all("split=" in uri for uri in lake.file_uris(PARTED))


def test_replace_where_refuses_rows_outside_predicate(lake):
    lake.append(THINGS, _things([("a", 0, 0.5), ("b", 0, 1.0)]))
    from deltalake.exceptions import DeltaError

    with pytest.raises(DeltaError, match="failed validation check"):
        lake.replace_where(THINGS, _things([("b", 3, 3.0)]), predicate=in_predicate("video_id", ["a"]))
    assert _rows(lake, THINGS) == [("a", 0, 0.5), ("b", 0, 1.0)]


def test_cast_to_spec_reorders_and_casts():
    table = pa.table({"score": pa.array([1.5], pa.float64()), "frame": pa.array([3], pa.int64()), "video_id": ["x"]})
    cast = cast_to_spec(table, THINGS)
    assert cast.schema == THINGS.schema
    assert cast.to_pylist() == [{"video_id": "x", "frame": 3, "score": 1.5}]


def test_cast_to_spec_rejects_missing_and_extra_columns():
    missing = pa.table({"video_id": ["x"], "frame": [1]})
    with pytest.raises(ValueError) as info:
        cast_to_spec(missing, THINGS)
    assert "missing ['score']" in str(info.value)
    assert "'things'" in str(info.value)
    extra = pa.table({"video_id": ["x"], "frame": [1], "score": [0.5], "colour": ["red"]})
    with pytest.raises(ValueError) as info:
        cast_to_spec(extra, THINGS)
    assert "unexpected ['colour']" in str(info.value)
    both = pa.table({"video_id": ["x"], "frame": [1], "shade": ["red"]})
    with pytest.raises(ValueError) as info:
        cast_to_spec(both, THINGS)
    assert str(info.value) == "table 'things': rows do not match the schema (missing ['score'], unexpected ['shade'])"


def test_append_with_wrong_columns_writes_nothing(lake):
    lake.ensure(THINGS)
    with pytest.raises(ValueError, match="unexpected \\['colour'\\]"):
        lake.append(THINGS, pa.table({"video_id": ["x"], "frame": [1], "score": [0.5], "colour": ["red"]}))
    assert lake.read(THINGS).num_rows == 0


def test_sql_string_and_in_predicate():
    assert sql_string("abc") == "'abc'"
    assert sql_string("it's") == "'it''s'"
    assert sql_string("''") == "''''''"
    assert in_predicate("video_id", ["b", "a", "b"]) == "video_id IN ('a', 'b')"
    assert in_predicate("video_id", ["o'neil"]) == "video_id IN ('o''neil')"
    with pytest.raises(ValueError, match="at least one value"):
        in_predicate("video_id", [])


def test_quoted_video_id_round_trips_through_replace_where(lake):
    quoted = "Train/live/003/o'brien's-1-1-1-1"
    lake.append(THINGS, _things([(quoted, 0, 0.5), ("o", 0, 1.0), ("brien", 0, 2.0)]))
    lake.replace_where(THINGS, _things([(quoted, 1, 7.0)]), predicate=in_predicate("video_id", [quoted]))
    assert _rows(lake, THINGS) == [(quoted, 1, 7.0), ("brien", 0, 2.0), ("o", 0, 1.0)]
    lake.replace_where(THINGS, _things([]), predicate=in_predicate("video_id", [quoted]))
    assert _rows(lake, THINGS) == [("brien", 0, 2.0), ("o", 0, 1.0)]


def _newer_table(lake, spec, version=99):
    write_deltalake(
        lake.uri(spec),
        _things([("z", 0, 1.0)]),
        description=f"facelake {spec.name} schema v{version}",
    )


def test_newer_schema_version_is_refused(lake):
    _newer_table(lake, THINGS)
    with pytest.raises(LakeError) as info:
        lake.read(THINGS)
    assert "schema version 99" in str(info.value)
    assert "newer than this facelake's 1" in str(info.value)
    with pytest.raises(LakeError, match="schema version 99"):
        lake.ensure(THINGS)
    with pytest.raises(LakeError, match="schema version 99"):
        lake.version(THINGS)
    with pytest.raises(LakeError, match="schema version 99"):
        lake.dataset(THINGS)
    with pytest.raises(LakeError, match="schema version 99"):
        lake.replace_where(THINGS, _things([]), predicate=in_predicate("video_id", ["z"]))


def test_same_or_older_schema_version_is_read(lake):
    write_deltalake(lake.uri(THINGS), _things([("z", 0, 1.0)]), description="facelake things schema v1")
    assert _rows(lake, THINGS) == [("z", 0, 1.0)]
    newer_spec = TableSpec(name="things", schema=THINGS.schema, version=2)
    assert _rows(lake, newer_spec) == [("z", 0, 1.0)]
    # no facelake description at all counts as version 1
    plain = TableSpec(name="plain", schema=THINGS.schema)
    write_deltalake(lake.uri(plain), _things([("y", 0, 1.0)]))
    assert _rows(lake, plain) == [("y", 0, 1.0)]


@pytest.mark.parametrize("mode", ["append", "replace_where"])
def test_newer_schema_version_is_refused_for_writes(lake, mode):
    _newer_table(lake, THINGS)
    version = DeltaTable(lake.uri(THINGS)).version()
    try:
        with pytest.raises(LakeError, match="schema version 99"):
            if mode == "append":
                lake.append(THINGS, _things([("w", 0, 1.0)]))
            else:
                lake.replace_where(THINGS, _things([("z", 5, 1.0)]), predicate=in_predicate("video_id", ["z"]))
    finally:
        committed = DeltaTable(lake.uri(THINGS)).version()
    assert committed == version
