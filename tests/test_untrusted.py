"""Reading what a user or a repository hands over: only regular files, bounded sizes and depths."""

from __future__ import annotations

import io
import json

import pytest

from shapetrace.errors import UsageError
from shapetrace.models.untrusted import (
    MAX_JSON_DEPTH,
    json_depth,
    not_a_file_reason,
    parse_json,
    read_capped,
    require_file,
)


def test_reading_is_capped_whatever_the_header_says():

    assert read_capped(io.BytesIO(b"x" * 10), 10, "doc") == b"x" * 10
    with pytest.raises(UsageError, match="doc is larger than"):
        read_capped(io.BytesIO(b"x" * 11), 10, "doc")


def test_not_a_file_reason_names_what_the_path_is(tmp_path):
    (tmp_path / "file.json").write_text("{}")
    assert not_a_file_reason(tmp_path / "file.json") is None
    assert not_a_file_reason(tmp_path / "absent.json") == "does not exist"
    assert not_a_file_reason(tmp_path) == "is a folder"
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    assert not_a_file_reason(tmp_path / "dangling").startswith("is a broken symbolic link")
    (tmp_path / "folder_link").symlink_to(tmp_path)
    assert not_a_file_reason(tmp_path / "folder_link") == f"is a symbolic link to {str(tmp_path)!r}, a folder"


def test_require_file_is_one_line_naming_what_was_expected(tmp_path):
    with pytest.raises(UsageError, match=r"^Model '.*' is a folder: expected a \.keras file\.$") as info:
        require_file(tmp_path, "Model", "a .keras file", param="model")
    assert info.value.params == ("model",)


def test_json_depth_counts_lists_and_objects():
    assert json_depth(3) == 0
    assert json_depth({"a": [1, {"b": []}]}) == 4
    assert json_depth([[[]], []]) == 3


@pytest.mark.parametrize(
    "raw, words",
    [
        (b'"\xff"', "is not UTF-8 text"),
        (
            '{"a": 1,}',
            "is not valid JSON (Expecting property name enclosed in double quotes at line 1, column 9)",
        ),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), f"more than {MAX_JSON_DEPTH} deep"),
    ],
    ids=["not-utf8", "invalid", "too-deep"],
)
def test_parse_json_refuses_in_one_line(raw, words):
    with pytest.raises(UsageError) as info:
        parse_json(raw, "Baseline 'x.json'", "write it again.")
    message = str(info.value)
    assert (
        message.startswith("Baseline 'x.json' ") and words in message and message.endswith("write it again.")
    )


def test_parse_json_reads_what_is_sane():
    # The object is one level, its "deep" member the other MAX_JSON_DEPTH - 1: at the limit, read.
    document = {
        "layers": [[1, 2]] * 3,
        "deep": json.loads("[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)),
    }
    assert parse_json(json.dumps(document), "doc", "fix") == document
