"""Hostile and damaged .qdpx files: a project file is data, never a path into the user's disk.

Each case is refused with one line naming the file and what to do, and an import of it
changes nothing in the store.
"""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import pytest

from autocode.app.imports import import_files
from autocode.errors import InputError
from autocode.refi import read_qdpx
from test_refi_qdpx_inputs import TEXT, make_qdpx, qde


def source(ref: str, root_extra: str = "") -> str:
    project = qde(text_attr=f'plainTextPath="{ref}"')
    if root_extra:
        project = project.replace('origin="test">', f'origin="test" {root_extra}>')
    return project


def refused(path: Path, **options) -> str:
    with pytest.raises(InputError) as info:
        read_qdpx(path, **options)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize("ref, extra", [
    ("absolute:///etc/passwd", ""),
    ("relative://../../../../../../etc/passwd", ""),
    ("file:///etc/passwd", ""),
    ("/etc/passwd", ""),
    ("relative://passwd", 'basePath="/etc"'),
    ("absolute:///dev/zero", ""),
])
def test_a_source_outside_the_archive_is_refused(tmp_path, ref, extra):
    path = make_qdpx(tmp_path, source(ref, extra), {})
    t0 = time.perf_counter()
    message = refused(path)
    assert time.perf_counter() - t0 < 5  # /dev/zero is never read
    assert "points outside the project" in message and ref in message and "--sources-dir" in message


def test_an_import_of_a_hostile_project_changes_nothing(ws, tmp_path):
    before = ws.store.counts()
    path = make_qdpx(tmp_path, source("absolute:///etc/passwd"), {})
    with pytest.raises(InputError, match="points outside the project"):
        import_files(ws, [path])
    assert ws.store.counts() == before
    assert not any("root:" in d.text for d in ws.store.documents())


def test_sources_dir_allows_regular_files_under_it_only(tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "t.txt").write_text(TEXT, encoding="utf-8")
    os.symlink("/etc/passwd", folder / "link.txt")
    ok = make_qdpx(tmp_path, source("relative://t.txt"), {})
    assert read_qdpx(ok, sources_dir=folder).sources[0].text == TEXT
    inside = make_qdpx(tmp_path, source(f"absolute://{folder / 't.txt'}"), {})
    assert read_qdpx(inside, sources_dir=folder).sources[0].text == TEXT
    for ref, why in [("relative://../t.txt", "climbs out"), ("relative://link.txt", "is not under"),
                     ("absolute:///etc/passwd", "is not under"), ("relative://missing.txt", "cannot be read")]:
        assert why in refused(make_qdpx(tmp_path, source(ref), {}), sources_dir=folder), ref
    os.mkfifo(folder / "pipe.txt")
    assert "not a regular file" in refused(make_qdpx(tmp_path, source("relative://pipe.txt"), {}), sources_dir=folder)
    big = folder / "big.txt"
    big.write_bytes(b"x" * 5000)
    assert "over the limit" in refused(make_qdpx(tmp_path, source("relative://big.txt"), {}),
                                       sources_dir=folder, max_member_bytes=4000)


def test_a_zip_bomb_is_refused_from_the_directory(tmp_path):
    path = tmp_path / "bomb.qdpx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", qde())
        archive.writestr("sources/t.txt", b"\0" * (64 * 2**20))  # 64 MiB of zeros, packed to ~64 KB
    assert path.stat().st_size < 2**20
    t0 = time.perf_counter()
    assert "times its packed size" in refused(path)
    assert time.perf_counter() - t0 < 5


def test_a_member_over_the_limit_is_refused_and_the_limit_can_be_raised(tmp_path):
    path = make_qdpx(tmp_path, qde(), {"sources/t.txt": TEXT.encode() + b" " * 3000})
    message = refused(path, max_member_bytes=2000)
    assert "over the limit" in message and "--max-member-mb" in message
    assert read_qdpx(path, max_member_bytes=10_000).sources[0].text.startswith(TEXT)


def test_a_directory_that_understates_a_size_is_caught_while_reading(tmp_path):
    path = make_qdpx(tmp_path, qde(), {"sources/t.txt": TEXT.encode() * 200})
    data = bytearray(path.read_bytes())
    # rewrite the central directory's uncompressed size of sources/t.txt to 10 bytes
    central = data.rfind(b"PK\x01\x02")
    assert data[central + 46:central + 46 + 13] == b"sources/t.txt"
    data[central + 24:central + 28] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    refused(path, max_member_bytes=100)


def test_damaged_archives_give_one_line_never_a_traceback(tmp_path):
    good = make_qdpx(tmp_path, qde()).read_bytes()
    central = good.rfind(b"PK\x01\x02")
    damaged = {
        "negative local header offset": good[:central + 42] + b"\xff\xff\xff\x7f" + good[central + 46:],
        "unknown compression method": good[:central + 10] + b"\x63\x00" + good[central + 12:],
        "truncated": good[: len(good) // 2],
        "not a zip": b"hello",
    }
    for name, data in damaged.items():
        path = tmp_path / f"{name.replace(' ', '-')}.qdpx"
        path.write_bytes(data)
        try:
            read_qdpx(path)
        except InputError as exc:
            assert "\n" not in str(exc), name


def test_the_same_project_imported_twice_at_once_is_one_clear_line(tmp_path):
    """Two imports of one project: the second finds the documents there under the write lock."""
    from autocode.app import imports
    from autocode.app.workspace import Workspace
    from autocode.io.segmentation import SegmentationConfig

    first = Workspace.init(tmp_path / "ws")
    second = Workspace.find(tmp_path / "ws")
    path = make_qdpx(tmp_path, qde())
    late = imports._plan_project(second.store, path, "qdpx", seg_config=SegmentationConfig())  # checked: no clash yet
    import_files(first, [path])
    before = second.store.counts()
    with pytest.raises(InputError, match="already in the workspace"):
        with second.store.transaction():
            late(imports.ImportReport())
    assert second.store.counts() == before


def test_a_turn_of_over_a_megabyte_is_split_not_a_traceback(ws, tmp_path):
    sentence = "We met every week and talked about what the volunteers needed. "
    path = tmp_path / "long.txt"
    path.write_text("Participant 1: " + sentence * (2**20 // len(sentence) + 10) + "\n", encoding="utf-8")
    report = import_files(ws, [path])
    assert report.totals()["segments"] > 1000


def test_the_cli_prints_the_refusal_whole_and_exits_2(cli, tmp_path):
    path = make_qdpx(tmp_path, source("absolute:///etc/passwd"), {})
    assert cli("init").exit_code == 0
    r = cli("import", path)
    assert r.exit_code == 2
    assert f"{path}[project.qde]" in r.output and "points outside the project" in r.output
    assert "Traceback" not in r.output
