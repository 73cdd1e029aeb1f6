import pytest

from autocode.io import transcripts
from autocode.errors import InputError
from autocode.app.imports import import_files
from autocode.io.segmentation import SegmentationConfig

PLAIN = """# Written for a test.

[00:00:05] Moderator: Shall we start? Tell me about your group.

[00:00:31] Participant 3: We run a choir on Tuesdays,
and people come who would never set foot in a clinic.
[00:01:02] Participant 1: Same for us, really.
"""


def test_plain_text_turns_and_offsets(tmp_path):
    path = tmp_path / "fg.txt"
    path.write_text(PLAIN, encoding="utf-8")
    doc = transcripts.read_transcript(path)
    assert [t.speaker for t in doc.turns] == ["Moderator", "Participant 3", "Participant 1"]
    assert doc.turns[0].timestamp == "00:00:05"
    assert doc.turn_text(doc.turns[1]) == "We run a choir on Tuesdays,\nand people come who would never set foot in a clinic."
    assert doc.turn_text(doc.turns[2]) == "Same for us, really."


def test_long_turn_is_split_into_sentence_windows_with_exact_offsets(ws, tmp_path):
    sentences = " ".join(f"This is sentence number {i} about the drop-in and the volunteers who run it." for i in range(30))
    path = tmp_path / "long.txt"
    path.write_text(f"Moderator: Go on.\nParticipant 2: {sentences}\n", encoding="utf-8")
    import_files(ws, [path], segmentation=SegmentationConfig(max_words=50, window_words=30))
    segs = ws.store.segments()
    text = ws.store.document("long").text
    assert len(segs) > 5
    assert not segs[0].codable and segs[0].role == "moderator"
    for s in segs:
        assert text[s.start:s.end] == s.text
        assert len(s.text.split()) <= 50
    assert all(s.turn == 1 for s in segs[1:])
    assert " ".join(s.text for s in segs[1:]) == sentences


def test_docx(tmp_path):
    import docx

    d = docx.Document()
    d.add_paragraph("Moderator: What stops you?")
    d.add_paragraph("Participant 4: Honestly, the paperwork.")
    path = tmp_path / "fg.docx"
    d.save(path)
    doc = transcripts.read_transcript(path)
    assert [(t.speaker, doc.turn_text(t)) for t in doc.turns] == [
        ("Moderator", "What stops you?"), ("Participant 4", "Honestly, the paperwork.")]


def test_webvtt_voices_merge_consecutive_cues(tmp_path):
    path = tmp_path / "fg.vtt"
    path.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Moderator>Welcome, everyone.\n\n"
                    "00:00:05.000 --> 00:00:07.000\n<v Participant 1>We're a library.\n\n"
                    "00:00:07.000 --> 00:00:09.000\n<v Participant 1>In Kendal.\n", encoding="utf-8")
    doc = transcripts.read_transcript(path)
    assert [(t.speaker, doc.turn_text(t)) for t in doc.turns] == [
        ("Moderator", "Welcome, everyone."), ("Participant 1", "We're a library. In Kendal.")]


def test_srt_speaker_prefix(tmp_path):
    path = tmp_path / "fg.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:04,000\nModerator: Hello.\n\n2\n00:00:05,000 --> 00:00:08,000\n"
                    "Participant 2: Hi, I run a men's shed.\n", encoding="utf-8")
    doc = transcripts.read_transcript(path)
    assert [t.speaker for t in doc.turns] == ["Moderator", "Participant 2"]
    assert doc.turns[1].timestamp == "00:00:05"


@pytest.mark.parametrize("name,content,message", [
    ("empty.txt", b"  \n", "empty"),
    ("latin1.txt", "Participant 1: caf\xe9 culture\n".encode("latin-1"), "not UTF-8"),
    ("broken.docx", b"this is not a zip", "not a zip"),
    ("bad.vtt", b"00:01 --> 00:02\nhello\n", "WEBVTT"),
    ("notes.pdf", b"%PDF", "not a transcript format"),
])
def test_bad_transcripts_are_one_clear_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        transcripts.read_transcript(path)
    assert name in str(info.value) and "\n" not in str(info.value)
