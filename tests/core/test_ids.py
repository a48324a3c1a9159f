"""Ids read from text: one pattern (24 hex digits), one owner-id parser, one ownership check.

The per-link route's ``url_id``, the JWT's subject and the command line's ``--owner`` all read ids
with :func:`is_object_id`; the two owner ids (JWT, CLI) become the same value through
:func:`owner_id_from_text`, and the statistics and raw-click exports compare owners with
:meth:`UrlInfo.owned_by`.
"""

from __future__ import annotations

import pytest
from bson import ObjectId

from spoo_export_plugin.access import jwt_auth
from spoo_export_plugin.core.engine.store import UrlInfo, owner_id_from_text
from spoo_export_plugin.core.request.query_values import is_object_id
from spoo_export_plugin.ops import cli_export

HEX = "650000000000000000000001"


@pytest.mark.parametrize(
    "text, expected",
    [
        (HEX, True),
        (HEX.replace("65", "AB"), True),
        ("abcdef" * 4, True),
        (HEX[:-1], False),
        (HEX + "0", False),
        ("", False),
        (" " + HEX, False),
        (HEX + "\n", False),  # a trailing newline: "$" in a pattern would have let it through
        ("٠" * 24, False),
        ("ｆ" * 24, False),  # digits and letters outside ASCII
        ("g" * 24, False),
    ],
)
def test_an_object_id_is_24_ascii_hex_digits_and_nothing_around_them(text: str, expected: bool) -> None:
    assert is_object_id(text) is expected


def test_an_owner_id_in_hex_is_an_object_id_and_any_other_text_stays_text() -> None:
    assert owner_id_from_text(HEX) == ObjectId(HEX)
    assert owner_id_from_text(HEX.upper()) == ObjectId(HEX)
    for text in ("user-42", HEX + "\n", HEX[:-1], ""):
        assert owner_id_from_text(text) == text  # never an InvalidId error


def test_the_jwt_subject_and_the_command_lines_owner_are_read_by_the_one_parser() -> None:
    assert jwt_auth.owner_id_from_text is owner_id_from_text is cli_export.owner_id_from_text


@pytest.mark.parametrize(
    "stored, caller, owns",
    [
        (ObjectId(HEX), ObjectId(HEX), True),
        (ObjectId(HEX), HEX, True),
        (HEX, ObjectId(HEX), True),
        ("user-42", "user-42", True),
        (ObjectId(HEX), "650000000000000000000002", False),
        (None, None, False),
        (None, "None", False),
        ("None", None, False),
        (ObjectId(HEX), None, False),
    ],
)
def test_a_url_is_owned_by_its_owner_id_as_object_id_or_text(stored, caller, owns) -> None:
    url = UrlInfo(short_code="a1", owner_id=stored, created_at=None, private_stats=True)
    assert url.owned_by(caller) is owns
