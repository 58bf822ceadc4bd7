import math
import shutil

import numpy as np
import pytest
from evalsynth import BandClassifier, click_track, music_like, pulse_times, pulse_video, write_wav

from v2meow.evaluation import EvalConfig, evaluate
from v2meow.evaluation.pairing import Problem

FAST = dict(bootstrap=100, shuffles=4)


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_true_pairing_beats_shuffle_baselines(eval_dirs):
    cfg = EvalConfig(
        generated=str(eval_dirs["gen"]), reference=str(eval_dirs["ref"]), videos=str(eval_dirs["vid"]), **FAST
    )
    r = evaluate(cfg, classifier=BandClassifier(), progress=False)
    assert r.counts["evaluated"] == 6 and r.counts["with_video"] == 6 and not r.problems
    m = r.metrics
    for name in ("beat_alignment", "beat_f1", "tempo_agreement", "mcc_audio"):
        assert m[name].estimate.value > m[name].baselines["shuffle"].value + 0.2, name
        assert m[name].vs_shuffle.low > 0, name
    assert m["beat_alignment"].estimate.value > 0.8
    assert m["kl"].estimate.value < m["kl"].baselines["shuffle"].value  # lower is better
    assert m["kl"].estimate.value < m["kl"].baselines["reference_shuffle"].value
    assert m["beat_alignment"].baselines["reference"].value > 0.8  # the real music follows the video too
    assert m["fad"].estimate.low <= m["fad"].estimate.value <= m["fad"].estimate.high
    assert r.per_clip_extra["video_tempo_bpm"][2] == pytest.approx(120, abs=5)


def test_identical_sets_give_zero_fad(eval_dirs):
    cfg = EvalConfig(generated=str(eval_dirs["ref"]), reference=str(eval_dirs["ref"]), **FAST)
    r, again = evaluate(cfg, progress=False), evaluate(cfg, progress=False)
    assert again.to_dict()["metrics"] == r.to_dict()["metrics"]  # same seed, same numbers
    fad = r.metrics["fad"].estimate
    assert fad.value == pytest.approx(0.0, abs=1e-6) and fad.high == pytest.approx(0.0, abs=1e-6)
    assert r.metrics["coverage"].estimate.value == 1.0 and r.metrics["density"].estimate.value == pytest.approx(
        1.2
    )  # (k + 1) / k
    assert "beat_alignment" not in r.metrics and any("beat metrics skipped" in n for n in r.notes)
    assert any("KL skipped" in n for n in r.notes)


def test_missing_and_unreadable_files_are_reported_not_fatal(eval_dirs, tmp_path):
    gen, ref = _copy(eval_dirs["gen"], tmp_path / "gen"), _copy(eval_dirs["ref"], tmp_path / "ref")
    vid = _copy(eval_dirs["vid"], tmp_path / "vid")
    (ref / "clip0.wav").unlink()  # generated without reference
    (gen / "clip1.wav").write_bytes(b"RIFF garbage")  # unreadable generated file
    (ref / "clip2.wav").write_bytes(b"")  # empty reference file
    (vid / "clip3.mp4").write_bytes(b"not a video")  # unreadable video: clip kept, beats skipped
    (vid / "clip4.mp4").unlink()  # no video
    seen: list[Problem] = []
    r = evaluate(
        EvalConfig(generated=str(gen), reference=str(ref), videos=str(vid), **FAST),
        on_problem=seen.append,
        progress=False,
    )
    kinds = {(p.stem, p.kind) for p in r.problems}
    assert kinds == {
        ("clip0", "missing_reference"),
        ("clip1", "unreadable_generated"),
        ("clip2", "unreadable_reference"),
        ("clip3", "unreadable_video"),
        ("clip4", "missing_video"),
    }
    assert [p.line() for p in seen] == [p.line() for p in r.problems]
    assert r.stems == ["clip3", "clip4", "clip5"]
    beats = r.metrics["beat_alignment"].per_clip
    assert math.isnan(beats[0]) and math.isnan(beats[1]) and beats[2] > 0.5
    assert r.metrics["beat_alignment"].estimate.n == 1


def test_video_stream_of_reference_files_is_used(tmp_path):
    gen, ref = tmp_path / "gen", tmp_path / "ref"
    gen.mkdir(), ref.mkdir()
    for i, bpm in enumerate((90, 130, 110)):
        times = pulse_times(bpm, 3.0, start=0.3)
        audio = click_track(times, 3.0) + 0.3 * music_like(i, 3.0)
        pulse_video(ref / f"c{i}.mp4", times, 3.0, audio=audio)  # a music video: picture + soundtrack
        write_wav(gen / f"c{i}.wav", audio)
    r = evaluate(EvalConfig(generated=str(gen), reference=str(ref), **FAST), progress=False)
    assert r.per_clip_extra["video_source"] == [str(ref / f"c{i}.mp4") for i in range(3)]
    assert r.metrics["beat_alignment"].estimate.value > 0.7


def test_text_mcc_with_clap_and_prompts(eval_dirs, tmp_path, debug_clap_backbone):
    (tmp_path / "prompts.tsv").write_text("".join(f"clip{i}\tprompt number {i}\n" for i in range(5)))
    cfg = EvalConfig(
        generated=str(eval_dirs["gen"]), reference=str(eval_dirs["ref"]), prompts=str(tmp_path / "prompts.tsv"), **FAST
    )
    r = evaluate(cfg, backbone=debug_clap_backbone, progress=False)
    assert r.backbone["name"] == "clap" and r.counts["with_prompt"] == 5
    text = r.metrics["mcc_text"]
    assert text.estimate.n == 5 and np.isfinite(text.baselines["shuffle"].value) and "reference" in text.baselines
    assert r.metrics["mcc_audio"].title.startswith("MCC audio")


def test_nothing_to_evaluate(tmp_path):
    (tmp_path / "g").mkdir(), (tmp_path / "r").mkdir()
    r = evaluate(EvalConfig(generated=str(tmp_path / "g"), reference=str(tmp_path / "r")), progress=False)
    assert r.metrics == {} and r.counts["evaluated"] == 0 and "no clip could be evaluated" in r.notes


def test_pretrained_judges_rate_music_above_their_noise_floor(eval_dirs, monkeypatch):
    from v2meow.evaluation import judges

    cfg = EvalConfig(generated=str(eval_dirs["gen"]), reference=str(eval_dirs["ref"]), **FAST)
    if any(judges.available().values()):
        r = evaluate(cfg, progress=False)
        assert not any(k.startswith("judge_") for k in r.metrics)
        assert any("judges" in n and "make judges" in n for n in r.notes)
        return
    r = evaluate(cfg, progress=False)
    for name in ("judge_note_salience", "judge_note_events_per_second", "judge_beat_pulse"):
        m = r.metrics[name]
        assert m.estimate.n == 6 and set(m.baselines) == {"reference", "noise"} and np.isfinite(m.per_clip).all()
        assert "of the way from the noise floor" in m.note
    pulse = r.metrics["judge_beat_pulse"]  # click tracks: periodic; pink noise: not
    assert pulse.estimate.value > pulse.baselines["noise"].value + 0.3
    assert pulse.baselines["reference"].value > pulse.baselines["noise"].value + 0.3
    assert all(0.0 <= v <= 1.0 for v in r.metrics["judge_note_salience"].per_clip)
    monkeypatch.setattr(judges, "available", lambda: {"notes": "onnxruntime not installed; make judges", "beats": None})
    monkeypatch.setattr(judges, "note_posteriors", lambda *a: (_ for _ in ()).throw(judges.JudgeUnavailable("x")))
    r = evaluate(cfg, progress=False)
    assert not any(k.startswith("judge_") for k in r.metrics) and any("make judges" in n for n in r.notes)
