import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings

from subacct.domain.resources import (
    MAX_METADATA_ENTRIES,
    CopySource,
    Resource,
    ResourceKind,
    Share,
    ShareMode,
    SharePermission,
    encode_content,
)
from subacct.errors import InvalidInput
from subacct.serialization import structure, unstructure
from subacct.testing.resource_strategies import SharingWorld, sharing_worlds

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USE, EDIT = SharePermission.USE, SharePermission.EDIT


def tpl(**changes: object) -> Resource:
    fields: dict[str, object] = {
        "id": "tpl",
        "owner_id": "m",
        "kind": ResourceKind.TEMPLATE,
        "name": "Brand",
        "payload": encode_content(b"<h1>Brand</h1>"),
        "created_at": T0,
    }
    fields.update(changes)
    return Resource(**fields)  # type: ignore[arg-type]


def share(mode: ShareMode, targets: list[str], **changes: object) -> Share:
    fields: dict[str, object] = {
        "id": "sh",
        "resource_id": "tpl",
        "owner_id": "m",
        "mode": mode,
        "targets": targets,
        "permission": USE,
        "created_at": T0,
    }
    fields.update(changes)
    return Share(**fields)  # type: ignore[arg-type]


def test_payload_is_canonical_base64_of_the_content() -> None:
    r = tpl(metadata={"subject": "Hello", "mime": "text/html"})
    assert r.content == b"<h1>Brand</h1>"
    assert list(r.metadata) == ["mime", "subject"]  # stored sorted
    for bad in ["not base64!", "aGk", "aG k=", 42, "aGk=\n"]:
        with pytest.raises(InvalidInput) as err:
            tpl(payload=bad)
        assert err.value.field == "payload"
    assert tpl(payload="").content == b""


@pytest.mark.parametrize(
    "metadata",
    [
        {"": "x"},
        {"has space": "x"},
        {"k": 1},
        {"k": "x" * 1025},
        {f"k{i}": "v" for i in range(MAX_METADATA_ENTRIES + 1)},
        ["not", "a", "mapping"],
    ],
)
def test_bad_metadata_is_refused(metadata: object) -> None:
    with pytest.raises(InvalidInput) as err:
        tpl(metadata=metadata)
    assert err.value.field == "metadata"


def test_resource_is_immutable_and_hashable() -> None:
    r = tpl(metadata={"a": "1"})
    with pytest.raises(TypeError):
        r.metadata["a"] = "2"  # type: ignore[index]
    assert hash(r) == hash(tpl(metadata={"a": "1"}))
    assert r != tpl(metadata={"a": "2"})
    for bad in [{"version": 0}, {"version": True}, {"name": "  "}, {"id": "has space"}]:
        with pytest.raises(InvalidInput):
            tpl(**bad)
    with pytest.raises(InvalidInput):
        tpl(copied_from=("tpl", 1))
    with pytest.raises(InvalidInput):
        tpl(kind="template")


def test_changed_bumps_the_version_and_needs_a_change() -> None:
    r = tpl()
    new = r.changed(content=b"v2", metadata={"locale": "it"})
    assert (new.version, new.content, dict(new.metadata), new.name) == (
        2,
        b"v2",
        {"locale": "it"},
        "Brand",
    )
    assert r.changed(name=" Renamed ").name == "Renamed"
    with pytest.raises(InvalidInput):
        r.changed()
    with pytest.raises(InvalidInput):
        encode_content("text")  # type: ignore[arg-type]


def test_share_shape_rules() -> None:
    assert share(ShareMode.CHOSEN, ["b", "a", "b"]).targets == ("a", "b")
    assert share(ShareMode.SUBTREE, ["s"]).root == "s"
    assert share(ShareMode.ALL_SUBS, []).root is None
    refused = [
        (ShareMode.ALL_SUBS, ["a"]),
        (ShareMode.CHOSEN, []),
        (ShareMode.SUBTREE, []),
        (ShareMode.SUBTREE, ["a", "b"]),
        (ShareMode.CHOSEN, ["m"]),
    ]
    for mode, targets in refused:
        with pytest.raises(InvalidInput):
            share(mode, targets)
    with pytest.raises(InvalidInput):
        share(ShareMode.CHOSEN, "ab")


def test_target_keys_are_what_storage_indexes() -> None:
    assert share(ShareMode.ALL_SUBS, []).target_keys() == ((ShareMode.ALL_SUBS, "m"),)
    assert share(ShareMode.SUBTREE, ["s"]).target_keys() == ((ShareMode.SUBTREE, "s"),)


@pytest.mark.parametrize(
    ("mode", "targets", "path", "covered"),
    [
        (ShareMode.ALL_SUBS, [], ["m", "s"], True),
        (ShareMode.ALL_SUBS, [], ["m", "s", "t"], False),  # grandchild: not a direct sub
        (ShareMode.ALL_SUBS, [], ["m"], False),  # the owner itself
        (ShareMode.ALL_SUBS, [], ["x", "s"], False),  # another master's sub
        (ShareMode.CHOSEN, ["s"], ["m", "s"], True),
        (ShareMode.CHOSEN, ["s"], ["m", "t"], False),
        (ShareMode.CHOSEN, ["s"], ["x", "s"], False),  # s moved away from m
        (ShareMode.CHOSEN, ["t"], ["m", "s", "t"], True),
        (ShareMode.SUBTREE, ["s"], ["m", "s"], True),
        (ShareMode.SUBTREE, ["s"], ["m", "s", "t"], True),
        (ShareMode.SUBTREE, ["s"], ["m", "u"], False),
        (ShareMode.SUBTREE, ["m"], ["m", "u", "v"], True),  # owner as root: all below
        (ShareMode.SUBTREE, ["m"], ["m"], False),
        (ShareMode.SUBTREE, ["r"], ["r", "m", "s"], False),  # root now above the owner
    ],
)
def test_covers(mode: ShareMode, targets: list[str], path: list[str], covered: bool) -> None:
    assert share(mode, targets).covers(path) is covered  # type: ignore[arg-type]


def test_permission_order() -> None:
    assert EDIT.allows(USE)
    assert EDIT.allows(EDIT)
    assert USE.allows(USE)
    assert not USE.allows(EDIT)


def roundtrip(obj: object) -> object:
    return structure(json.loads(json.dumps(unstructure(obj))), type(obj))


@settings(max_examples=50)
@given(sharing_worlds())
def test_resources_and_shares_roundtrip_through_json(world: SharingWorld) -> None:
    for r in world.resources:
        back = roundtrip(r)
        assert back == r
        assert back.content == r.content  # type: ignore[attr-defined]
    for s in world.shares:
        assert roundtrip(s) == s


def test_resource_wire_shape_is_stable() -> None:
    copy = tpl(id="mine", owner_id="s", copied_from=CopySource("tpl", "m", 3), metadata={"a": "b"})
    assert unstructure(copy) == {
        "schema": 1,
        "id": "mine",
        "owner_id": "s",
        "kind": "template",
        "name": "Brand",
        "payload": "PGgxPkJyYW5kPC9oMT4=",
        "created_at": "2026-01-01T00:00:00+00:00",
        "metadata": {"a": "b"},
        "version": 1,
        "copied_from": {"schema": 1, "resource_id": "tpl", "owner_id": "m", "version": 3},
    }
    assert unstructure(share(ShareMode.CHOSEN, ["b", "a"])) == {
        "schema": 1,
        "id": "sh",
        "resource_id": "tpl",
        "owner_id": "m",
        "mode": "chosen",
        "targets": ["a", "b"],
        "permission": "use",
        "created_at": "2026-01-01T00:00:00+00:00",
    }
