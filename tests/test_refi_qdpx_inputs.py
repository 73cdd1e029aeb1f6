"""Reading .qdpx files made here: encodings, path forms, and every broken input."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from autocode.errors import InputError
from autocode.refi import read_qdpx

USER = "0f5a2c9e-6b1d-4e7a-8c3b-1d2e3f4a5b6c"
CODE = "d7aa29da-519b-4946-9b90-253b6db8fd0a"
SOURCE = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
SEL = "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"
CODING = "6e7f8091-a2b3-4c4d-8e5f-60718293a4b5"
TEXT = "Moderator: why?\nP1: the taxes ate my bonus 😩 honestly\n"


def qde(
    *,
    start: int = 20,
    end: int = 44,
    code_ref: str = CODE,
    coder: str = USER,
    text_attr: str = 'plainTextPath="internal://t.txt"',
    inline: str = "",
    root: str = '<Project xmlns="urn:QDA-XML:project:1.0" name="t" origin="test">',
) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
{root}
  <Users><User guid="{USER}" name="Coder A"/></Users>
  <CodeBook><Codes><Code guid="{CODE}" name="Economy" isCodable="true"/></Codes></CodeBook>
  <Sources>
    <TextSource guid="{SOURCE}" name="P1" {text_attr}>{inline}
      <PlainTextSelection guid="{SEL}" startPosition="{start}" endPosition="{end}">
        <Coding guid="{CODING}" creatingUser="{coder}"><CodeRef targetGUID="{code_ref}"/></Coding>
      </PlainTextSelection>
    </TextSource>
  </Sources>
</Project>
"""


def make_qdpx(
    tmp_path: Path, project: str | bytes | None, files: dict[str, bytes] | None = None
) -> Path:
    path = tmp_path / "p.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        if project is not None:
            archive.writestr("project.qde", project)
        for name, data in (
            files if files is not None else {"sources/t.txt": TEXT.encode()}
        ).items():
            archive.writestr(name, data)
    return path


def read_error(path: Path) -> str:
    with pytest.raises(InputError) as info:
        read_qdpx(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-8"),
        b"\xef\xbb\xbf" + TEXT.encode("utf-8"),
        "\ufeff".encode("utf-16-le") + TEXT.encode("utf-16-le"),
        "\ufeff".encode("utf-16-be") + TEXT.encode("utf-16-be"),
    ],
    ids=["utf8", "utf8-bom", "utf16le-bom", "utf16be-bom"],
)
def test_source_encodings(tmp_path: Path, data: bytes) -> None:
    project = read_qdpx(make_qdpx(tmp_path, qde(), {"sources/t.txt": data}))
    assert project.sources[0].text == TEXT
    assert project.selected_text(project.selections[0]) == "the taxes ate my bonus 😩"


def test_sources_folder_is_found_whatever_its_case(tmp_path: Path) -> None:
    path = make_qdpx(
        tmp_path,
        qde(text_attr='plainTextPath="internal://T.TXT"'),
        {"Sources/t.txt": TEXT.encode()},
    )
    assert read_qdpx(path).sources[0].text == TEXT


def test_inline_plain_text_content(tmp_path: Path) -> None:
    inline = f"<PlainTextContent>{TEXT}</PlainTextContent>"
    project = read_qdpx(make_qdpx(tmp_path, qde(text_attr="", inline=inline), {}))
    assert project.selected_text(project.selections[0]) == "the taxes ate my bonus 😩"


def test_relative_source_next_to_the_project(tmp_path: Path) -> None:
    """A source outside the archive is read only from the folder the user names (issue 12)."""
    (tmp_path / "outside.txt").write_text(TEXT, encoding="utf-8")
    path = make_qdpx(tmp_path, qde(text_attr='plainTextPath="relative://outside.txt"'), {})
    assert "points outside the project" in read_error(path)
    assert read_qdpx(path, sources_dir=tmp_path).sources[0].text == TEXT


def test_crlf_source_in_code_points(tmp_path: Path) -> None:
    crlf = TEXT.replace("\n", "\r\n")  # the spec's code points count the CR
    project = read_qdpx(
        make_qdpx(tmp_path, qde(start=21, end=45), {"sources/t.txt": crlf.encode()})
    )
    assert project.position_convention == "codepoint"
    assert project.selected_text(project.selections[0]) == "the taxes ate my bonus 😩"


def test_forcing_a_convention(tmp_path: Path) -> None:
    path = make_qdpx(tmp_path, qde(start=20, end=45))  # UTF-16 units: the emoji counts 2
    project = read_qdpx(path, convention="utf16-crlf-bom")
    assert project.position_convention == "utf16-crlf-bom"
    assert project.selected_text(project.selections[0]) == "the taxes ate my bonus 😩"
    with pytest.raises(ValueError):
        read_qdpx(path, convention="bytes")


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "p.qdpx"
    path.write_text("just text")
    assert "not a zip" in read_error(path)


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in read_error(tmp_path / "absent.qdpx")


def test_no_project_qde(tmp_path: Path) -> None:
    assert "no project.qde" in read_error(make_qdpx(tmp_path, None))


def test_malformed_xml(tmp_path: Path) -> None:
    broken = qde().replace("</Sources>", "</Sourcez>")
    message = read_error(make_qdpx(tmp_path, broken))
    assert "malformed XML" in message and "project.qde" in message


def test_wrong_root_element(tmp_path: Path) -> None:
    message = read_error(make_qdpx(tmp_path, '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"/>'))
    assert "not a REFI-QDA project" in message


def test_missing_source_file(tmp_path: Path) -> None:
    path = make_qdpx(tmp_path, qde(text_attr='plainTextPath="internal://gone.txt"'))
    message = read_error(path)
    assert f"TextSource guid={SOURCE}" in message and "gone.txt" in message


def test_source_that_is_not_utf8(tmp_path: Path) -> None:
    path = make_qdpx(tmp_path, qde(), {"sources/t.txt": "árvíztűrő".encode("cp1250")})
    assert f"TextSource guid={SOURCE}" in read_error(path)


def test_selection_out_of_range(tmp_path: Path) -> None:
    message = read_error(make_qdpx(tmp_path, qde(end=4000)))
    assert f"PlainTextSelection guid={SEL}" in message and "does not fit" in message


def test_selection_end_before_start(tmp_path: Path) -> None:
    assert f"PlainTextSelection guid={SEL}" in read_error(
        make_qdpx(tmp_path, qde(start=30, end=20))
    )


def test_position_not_a_number(tmp_path: Path) -> None:
    message = read_error(make_qdpx(tmp_path, qde(end="x")))  # type: ignore[arg-type]
    assert f"PlainTextSelection guid={SEL}" in message and "endPosition" in message


def test_unknown_code_ref(tmp_path: Path) -> None:
    ghost = "99999999-9999-4999-9999-999999999999"
    message = read_error(make_qdpx(tmp_path, qde(code_ref=ghost)))
    assert ghost in message and CODING in message and "CodeRef" in message


def test_unknown_user_ref(tmp_path: Path) -> None:
    ghost = "88888888-8888-4888-8888-888888888888"
    message = read_error(make_qdpx(tmp_path, qde(coder=ghost)))
    assert ghost in message and f"Coding guid={CODING}" in message


def test_guid_refs_match_regardless_of_case_and_braces(tmp_path: Path) -> None:
    project = read_qdpx(
        make_qdpx(tmp_path, qde(code_ref="{" + CODE.upper() + "}", coder=USER.upper()))
    )
    (coding,) = project.selections[0].codings
    assert (coding.code_guid, coding.user_guid) == (CODE, USER)


def test_damaged_archive_member(tmp_path: Path) -> None:
    path = tmp_path / "p.qdpx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", qde())
        archive.writestr("sources/t.txt", TEXT * 50)
    data = bytearray(path.read_bytes())
    at = data.find(b"sources/t.txt") + len("sources/t.txt") + 5  # into the compressed bytes
    data[at] ^= 0xFF
    data[at + 1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert "sources/t.txt cannot be unpacked" in read_error(path)
