
import pytest
import yaml

from autocode.io import codebooks as codebook
from autocode.errors import InputError, UnknownCodeError

THEMES = ["Mental health motivation", "Community motivation", "Developing skills", "Understanding boundaries",
          "Offering something different", "Partnerships", "Implementation"]


def test_default_codebook_is_the_study_frame():
    book = codebook.default()
    domains = [c.name for c in book if c.group == "COM-B" and c.depth == 1]
    assert domains == ["Capability", "Opportunity", "Motivation"]
    themes = [c.name for c in book if c.group == "COM-B" and c.depth == 2]
    assert sorted(themes) == sorted(THEMES)
    assert all(len(book.children(f"{c.parent}/{c.name}")) >= 3 for c in book if c.depth == 2)
    components = [comp["name"] for d in book if d.depth == 1 and d.group == "COM-B" for comp in d.attrs["components"]]
    assert len(components) == 6 and "Reflective motivation" in components
    tdf = {comp["name"]: comp["tdf"] for d in book if d.depth == 1 and d.group == "COM-B" for comp in d.attrs["components"]}
    assert tdf["Social opportunity"] == ["Social influences"]
    assert [c.name for c in book if c.group == "Valence"] == ["Barrier", "Enabler"]
    assert book.level_name(book.resolve("Partnerships")) == "theme"
    assert not book.resolve("Capability").codable


def test_resolve_by_name_path_and_case():
    book = codebook.default()
    assert book.resolve("Capability/Developing skills").name == "Developing skills"
    assert book.resolve("developing skills").path == "Capability/Developing skills"
    assert book.resolve(" Not  therapists ").path == "Capability/Understanding boundaries/Not therapists"


def test_unknown_code_names_the_nearest():
    with pytest.raises(UnknownCodeError, match="Partnerships"):
        codebook.default().resolve("Partnership", file="x.csv", line=3)


def test_yaml_round_trip_keeps_hash(tmp_path):
    book = codebook.default()
    path = tmp_path / "cb.yaml"
    path.write_text(book.to_yaml(), encoding="utf-8")
    again = codebook.load(path)
    assert again.hash() == book.hash()
    assert list(again.codes) == list(book.codes)


def test_text_codebook_with_exclusive_group(tmp_path):
    path = tmp_path / "codes.txt"
    path.write_text("# speech acts\n[Act] exclusive\nQuestion\nReflection/Simple\nReflection/Complex\n"
                    "[Topic]\nCapability/Developing skills\n", encoding="utf-8")
    book = codebook.load(path)
    assert book.group("Act").exclusive and not book.group("Topic").exclusive
    assert book.resolve("Simple").path == "Reflection/Simple"
    assert book.exclusive_sets() == [["Question", "Reflection", "Reflection/Simple", "Reflection/Complex"]]


def test_bad_codebooks_are_clear(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups: [\n", encoding="utf-8")
    with pytest.raises(InputError, match="bad.yaml.*YAML"):
        codebook.load(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(InputError, match="no codes"):
        codebook.load(empty)
    slash = tmp_path / "s.yaml"
    slash.write_text(yaml.safe_dump({"groups": [{"name": "G", "codes": [{"name": "a;b"}]}]}), encoding="utf-8")
    with pytest.raises(InputError, match="contains"):
        codebook.load(slash)


def test_close_upward_adds_theme_and_domain():
    book = codebook.default()
    assert book.close_upward(["Capability/Understanding boundaries/Not therapists", "Barrier"]) == [
        "Capability", "Capability/Understanding boundaries", "Capability/Understanding boundaries/Not therapists", "Barrier"]


def test_a_codebook_round_trips_through_a_taguette_tag_list(tmp_path):
    from autocode.app.exports import export_codebook
    from autocode.app.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    out = tmp_path / "codes.csv"
    book = export_codebook(ws, out)
    assert out.read_text(encoding="utf-8").splitlines()[0] == "tag,description"
    again = codebook.load(out)
    assert [c.path for c in again.codable()] == [c.path for c in book.codable()]
    assert {c.path: c.description for c in again.codable()} == {c.path: c.description for c in book.codable()}
    assert not again.codes["Capability"].codable  # a parent that is no tag only groups codes


def test_taguette_s_own_codebook_export_imports(tmp_path):
    from conftest import shared

    book = codebook.load(shared("taguette-usability", "codebook_20220303_8.csv"))
    assert book.codes["Moderator assist"].description.startswith("The moderator intervenes")
    assert len(book.codable()) == 22 and all(c.group == "Tags" for c in book)


def test_a_tag_list_without_a_tag_column_is_one_clear_line(tmp_path):
    bad = tmp_path / "codes.csv"
    bad.write_text("name,description\nA,b\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"codes.csv:1: no 'tag' column"):
        codebook.load(bad)
