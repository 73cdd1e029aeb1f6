"""autocode's exports read by other people's REFI-QDA readers, installed as test dependencies.

* qdaPy (``qdapy.read_qdpx``) reads each Coding's ``creatingUser``, slices the text by code
  points: on autocode's export it must give every (source, code, coder, exact text) of the
  original.
* pyqdpx reads a selection's ``creatingUser`` as its coder (as QualCoder does) and the first
  Coding only; it counts positions in UTF-16 code units (NVivo's way) where the spec, and
  autocode's export, count code points. It needs Python 3.12 (its f-strings do not parse on
  3.11): it runs in this interpreter when it can, else in the one ``AUTOCODE_PYQDPX_PYTHON``
  names, else the test is skipped.
* portableQDA reads codebooks (.qdc): every one autocode writes. It pins lxml<5, which autocode
  cannot use, so it is not in the test extras: ``pip install --no-deps portableqda`` (it needs
  none of its dependencies to read a codebook).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import pytest

from autocode.app.exports import export_codebook
from autocode.app.imports import import_codebook, import_files
from autocode.app.workspace import Workspace
from autocode.refi import read_qdc
from autocode.refi.mapping import user_name
from autocode.refi.qdc import read_qdc_book
from conftest import NVIVO, shared


def code_paths(project) -> dict[str, str]:
    """Code guid -> the path of names, as qdaPy writes it."""
    out: dict[str, str] = {}

    def walk(codes, parent: str) -> None:
        for code in codes:
            path = f"{parent}/{code.name.strip() or '(unnamed)'}" if parent else code.name.strip() or "(unnamed)"
            out[code.guid] = path
            walk(code.children, path)

    walk(project.codes, "")
    return out


def truth_by_coding(project) -> Counter:
    """(source, code path, Coding's coder, exact text) of every coding, as autocode reads the file."""
    paths, users, sources = code_paths(project), project.user_by_guid(), project.source_by_guid()
    return Counter((sources[s.source_guid].name, paths[c.code_guid], users[c.user_guid].name,
                    project.selected_text(s)) for s in project.selections for c in s.codings)


def demo_truth(ws: Workspace, coders: list[str]) -> Counter:
    """(group, code path, coder as a suite shows them, segment text) of every coding in the workspace."""
    texts = {d.name: d.text for d in ws.store.documents()}
    return Counter((r.document, r.code, user_name(r.coder), texts[r.document][r.start:r.end])
                   for r in ws.store.coded_spans() if r.coder in coders)


# ------------------------------------------------------------------ qdaPy

def qdapy_rows(path: Path) -> tuple[Counter, list]:
    qdapy = pytest.importorskip("qdapy", reason="qdaPy is a test dependency: pip install -e '.[test]'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = qdapy.read_qdpx(path, warn=False)
    frame = project.fragments
    return Counter(zip(frame["title"], frame["code"], frame["codedBy"], frame["text"])), list(frame["comment"])


def test_qdapy_reads_the_nvivo_project_back_as_it_was(nvivo_round):
    original, _, _, out, _ = nvivo_round
    rows, _ = qdapy_rows(out)
    assert sum(rows.values()) == 330
    assert rows == truth_by_coding(original)  # Gergo 303, test_user 27: each coding under its own coder


def test_qdapy_reads_the_demo_workspace_with_the_model_under_its_own_user(demo_round):
    ws, out, *_ = demo_round
    rows, comments = qdapy_rows(out)
    assert rows == demo_truth(ws, ["coder_a", "coder_b", "model:demo"])
    per_user = Counter(user for (_, _, user, _), n in rows.items() for _ in range(n))
    assert per_user["autocode model demo"] == sum(len(c) for c in ws.store.codings("model:demo").values()) > 0
    assert sum(c.startswith("autocode model demo@") for c in comments) == per_user["autocode model demo"]


# ------------------------------------------------------------------ pyqdpx

PYQDPX_DUMP = r"""
import contextlib, io, json, sys
from pyqdpx import QDPX
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    archive = QDPX(sys.argv[1])
    project = archive.get_project()
    rows = []
    for source in project.sources.values():
        raw = (archive.get_source(source.guid) or "").removeprefix("\ufeff")
        for sel in source.coded_selections.values():
            rows.append([source.name, sel.code.name, sel.user.name, sel.text, raw[sel.start:sel.end],
                         sel.description])
json.dump({"rows": rows, "printed": printed.getvalue().splitlines()}, sys.stdout)
"""


def pyqdpx_python() -> str:
    try:
        import pyqdpx  # noqa: F401
    except SyntaxError:
        pass  # pyqdpx 0.1.8 writes f-strings only Python 3.12 parses
    except ImportError:
        pass
    else:
        return sys.executable
    other = os.environ.get("AUTOCODE_PYQDPX_PYTHON")
    if other:
        return other
    pytest.skip(f"pyqdpx cannot run on Python {sys.version_info.major}.{sys.version_info.minor} (it needs 3.12: "
                "its f-strings do not parse on 3.11); set AUTOCODE_PYQDPX_PYTHON to a Python 3.12+ that has pyqdpx")


def pyqdpx_read(path: Path) -> dict:
    done = subprocess.run([pyqdpx_python(), "-c", PYQDPX_DUMP, str(path)], capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def same_text(text: str) -> str:
    """pyqdpx puts a zero-width space after each astral character (its NVivo offsets), and keeps CRLF."""
    return text.replace("\u200b", "").replace("\r\n", "\n")


def test_pyqdpx_reads_every_selection_of_the_nvivo_export_under_its_maker(nvivo_round):
    _, _, _, out, _ = nvivo_round
    before, after = pyqdpx_read(shared(*NVIVO)), pyqdpx_read(out)
    assert not after["printed"]  # was: 330 x "Skipping selection ...: User with GUID None not found."
    assert len(after["rows"]) == len(before["rows"]) == 330
    # its own reading of NVivo's file (UTF-16 units, as NVivo counts) against its reading of
    # autocode's export at the positions it read, counted as the spec says (code points)
    assert Counter((s, c, u, same_text(t)) for s, c, u, t, _, _ in before["rows"]) == \
        Counter((s, c, u, same_text(cp)) for s, c, u, _, cp, _ in after["rows"])
    assert Counter(u for _, _, u, *_ in after["rows"]) == {"floriansipos": 297, "test_user": 27, "Gergo": 6}


def test_pyqdpx_reads_the_demo_workspace_exactly(demo_round):
    ws, out, *_ = demo_round
    read = pyqdpx_read(out)
    assert not read["printed"]
    rows = Counter((s, c, u, t) for s, c, u, t, _, _ in read["rows"])
    leaf = {c.path: c.name for c in ws.store.codebook()}
    truth = demo_truth(ws, ["coder_a", "coder_b", "model:demo"])
    assert rows == Counter({(g, leaf[p], u, t): n for (g, p, u, t), n in truth.items()})
    model = [description for _, _, user, _, _, description in read["rows"] if user == "autocode model demo"]
    assert model and all(d.startswith("autocode model demo@") and ": probability 0." in d for d in model)


# ------------------------------------------------------------------ portableQDA

def portableqda_reads(path: Path):
    portableqda = pytest.importorskip(
        "portableqda", reason="portableQDA pins lxml<5, which autocode cannot use: pip install --no-deps portableqda")
    logging.getLogger("portableqda").setLevel(logging.ERROR)  # it warns at every nested code it does not model
    book = portableqda.codebookCls(output=None)
    book.readQdcFile(input=str(path))
    return book


def test_portableqda_reads_every_codebook_autocode_writes(tmp_path, nvivo_round, demo_round):
    fresh = Workspace.init(tmp_path / "fresh")
    atlas = Workspace.init(tmp_path / "atlas")
    import_codebook(atlas, shared("refi-qda", "atlasti9_portableqda.qdc"))
    minimal = Workspace.init(tmp_path / "minimal")
    import_files(minimal, [shared("refi-qda", "minimal.qdpx")])
    workspaces = {"fresh": fresh, "atlas": atlas, "minimal": minimal, "nvivo": nvivo_round[1], "demo": demo_round[0]}
    for name, ws in workspaces.items():
        out = tmp_path / f"{name}.qdc"
        export_codebook(ws, out)
        codes, sets = read_qdc_book(out)
        book = portableqda_reads(out)  # the top level of the tree (it models no nesting) and the sets' names
        assert sorted(book.codes) == sorted(c.name for c in codes), name
        assert sorted(book.sets) == sorted(s.name for s in sets) and sets, name
        assert sorted(str(book.codes[c.name].guid).lower() for c in codes) == sorted(c.guid.lower() for c in codes)
    assert len(read_qdc(tmp_path / "nvivo.qdc")) == 12 and len(read_qdc(tmp_path / "fresh.qdc")) == 5
