import json

import pytest
from evalsynth import music_like, write_wav

from v2meow.errors import ConfigError
from v2meow.evaluation.pairing import pair_files, read_prompts


def test_pair_files_reports_missing_sides_and_notes_clashes(tmp_path):
    gen, ref, vid = (tmp_path / d for d in ("gen", "ref", "vid"))
    for d in (gen, ref, vid):
        d.mkdir()
    for stem in ("a", "b", "only_gen"):
        write_wav(gen / f"{stem}.wav", music_like(0, 0.5))
    for stem in ("a", "b", "only_ref"):
        write_wav(ref / f"{stem}.flac", music_like(0, 0.5))
    (gen / "a.mp4").write_bytes(b"")  # same stem: audio preferred, clash noted
    (gen / ".hidden.wav").write_bytes(b"")
    (gen / "notes.txt").write_text("not media")
    (vid / "a.mp4").write_bytes(b"x")
    p = pair_files(gen, ref, vid)
    assert p.stems == ["a", "b"]
    assert p.generated["a"].name == "a.wav"
    kinds = {(x.stem, x.kind) for x in p.problems}
    assert kinds == {("only_gen", "missing_reference"), ("only_ref", "missing_generated"), ("b", "missing_video")}
    assert any("a.mp4" in n for n in p.notes)
    with pytest.raises(ConfigError, match="not a directory"):
        pair_files(tmp_path / "nope", ref)


def test_read_prompts_formats(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"a": "drum and bass", "b": "calm piano"}))
    (tmp_path / "l.json").write_text(json.dumps([{"stem": "a", "text": "drum and bass"}]))
    (tmp_path / "p.jsonl").write_text('{"id": "a", "prompt": "drum and bass"}\n\n')
    (tmp_path / "p.csv").write_text('stem,text\na,"drum, bass"\n')
    (tmp_path / "p.tsv").write_text("a\tdrum and bass\n")
    assert read_prompts(tmp_path / "p.json") == {"a": "drum and bass", "b": "calm piano"}
    assert read_prompts(tmp_path / "l.json") == {"a": "drum and bass"}
    assert read_prompts(tmp_path / "p.jsonl") == {"a": "drum and bass"}
    assert read_prompts(tmp_path / "p.csv") == {"a": "drum, bass"}
    assert read_prompts(tmp_path / "p.tsv") == {"a": "drum and bass"}
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "bad.tsv").write_text("only_a_stem\n")
    (tmp_path / "empty.json").write_text('{"a": "  "}')
    for name in ("bad.json", "bad.tsv", "empty.json", "missing.json"):
        with pytest.raises(ConfigError):
            read_prompts(tmp_path / name)
