"""REFI-QDA codebooks (.qdc): ATLAS.ti's older namespace, writing, XSD validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from autocode.errors import InputError
from autocode.refi import QdaCode, read_qdc, write_qdc
from autocode.refi.qdc import codebook_xml

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "refi-qda"


def shared(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"needs {path}: the shared data folder beside the repo is absent")
    return path


def names(codes: list[QdaCode]) -> list:
    return [(c.name, c.is_codable, names(c.children)) for c in codes]


def test_atlasti_codebook_with_older_namespace() -> None:
    codes = read_qdc(shared("atlasti9_portableqda.qdc"))
    assert names(codes) == [
        ("code2", True, []),
        ("code1", True, [("code1.1", True, [])]),
        ("code3", False, [("code:3.1", True, [])]),
    ]
    assert codes[0].guid == "2CE89C66-C28D-473B-B5C4-6CF87D20EF04"


def test_written_codebook_validates_and_reads_back(tmp_path: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(shared("Codebook.xsd"))))
    codes = read_qdc(shared("atlasti9_portableqda.qdc"))
    codes[1].color, codes[1].description = "#FF8800", "first theme\nsecond line"
    codes.append(QdaCode("", "no guid yet", children=[QdaCode("local-7", "odd guid")]))
    out = tmp_path / "book.qdc"
    write_qdc(codes, out)
    assert schema.validate(etree.parse(str(out))), schema.error_log.last_error
    again = read_qdc(out)
    assert names(again) == names(codes)
    assert again[:3] == codes[:3]
    assert again[1].description == "first theme\nsecond line"
    assert out.read_bytes() == codebook_xml(codes)  # deterministic


def test_empty_codebook_is_refused() -> None:
    with pytest.raises(ValueError):
        codebook_xml([])


def test_qdc_in_namespace_1_0_with_descriptions(tmp_path: Path) -> None:
    path = tmp_path / "c.qdc"
    path.write_text(
        '<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="MAXQDA 2022"><Codes>'
        '<Code guid="{11111111-2222-4333-8444-555555555555}" name="Trust" isCodable="false" color="#123">'
        "<Description>who is believed</Description>"
        '<Code guid="21111111-2222-4333-8444-555555555555" name="Doctors" isCodable="1"/>'
        "</Code></Codes></CodeBook>",
        encoding="utf-8",
    )
    (trust,) = read_qdc(path)
    assert (trust.name, trust.is_codable, trust.color, trust.description) == (
        "Trust",
        False,
        "#123",
        "who is believed",
    )
    assert trust.children[0].name == "Doctors" and trust.children[0].is_codable


@pytest.mark.parametrize(
    "content, needle",
    [
        ("<CodeBook xmlns='urn:QDA-XML:codebook:1.0'><Codes>", "malformed XML"),
        ("<Project xmlns='urn:QDA-XML:project:1.0'/>", "not a REFI-QDA codebook"),
        (
            "<CodeBook xmlns='urn:QDA-XML:codebook:1.0'><Codes>"
            "<Code guid='11111111-2222-4333-8444-555555555555' name='a' isCodable='true'/>"
            "<Code guid='11111111-2222-4333-8444-555555555555' name='b' isCodable='true'/>"
            "</Codes></CodeBook>",
            "Code guid=11111111-2222-4333-8444-555555555555",
        ),
    ],
)
def test_broken_codebooks(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.qdc"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=needle):
        read_qdc(path)
