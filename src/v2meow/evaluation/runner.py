"""The evaluation run: pair files, analyse each clip, compute every metric with its baselines.

    result = evaluate(EvalConfig(generated="out", reference="data/test", out="report"))
    write_report(result, "report")        # metrics.json, report.md, per_clip.csv, per_clip.png

Nothing about one clip stops the run: missing pairs and unreadable files become
`Problem`s (also passed to `on_problem` as they happen), and a metric that cannot be
computed (no classifier, no prompts, no video) is skipped with a note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from v2meow.evaluation.analysis import ClipAnalysis, ClipAnalyzer, RhythmSettings
from v2meow.evaluation.beats import has_mir_eval
from v2meow.evaluation.embeddings import AudioBackbone, ClapBackbone, build_backbone, load_clap_embedder
from v2meow.evaluation.kl import AudioClassifier, HFAudioClassifier
from v2meow.evaluation.metrics import (
    BEAT_METRICS,
    MUSIC_BEAT_METRICS,
    BeatSettings,
    MetricBuilder,
    MetricResult,
    kl_score,
    mcc_score,
    music_beat_score,
    rhythm_score,
    standardizer,
)
from v2meow.evaluation.pairing import Problem, pair_files, read_prompts

FORMAT_VERSION = 1


@dataclass
class EvalConfig:
    """What `v2meow-eval` was asked to do (every field lands in metrics.json)."""

    generated: str
    reference: str
    videos: str | None = None
    prompts: str | None = None
    backbone: str = "mel"  # mel | vggish | clap
    weights: str | None = None  # vggish state dict, or CLAP directory / repo id
    clap: str | None = None  # CLAP for MCC when the backbone is not CLAP
    classifier: str | None = None  # HF audio-classification directory for KL
    classifier_activation: str = "auto"
    seed: int = 0
    bootstrap: int = 1000
    level: float = 0.95
    shuffles: int = 10
    max_seconds: float | None = None
    device: str = "cpu"
    rhythm: RhythmSettings = field(default_factory=RhythmSettings)
    beats: BeatSettings = field(default_factory=BeatSettings)


@dataclass
class EvalResult:
    """Everything the report shows."""

    config: EvalConfig
    backbone: dict[str, object]
    stems: list[str]  # evaluated clips, in per-clip order
    metrics: dict[str, MetricResult]
    problems: list[Problem]
    notes: list[str]
    counts: dict[str, int]
    per_clip_extra: dict[str, list] = field(default_factory=dict)  # e.g. tempi, video sources

    def to_dict(self) -> dict:
        from v2meow import __version__

        per_clip = []
        for i, stem in enumerate(self.stems):
            row: dict[str, object] = {"stem": stem}
            for name, m in self.metrics.items():
                if m.per_clip is not None:
                    row[name] = _num(m.per_clip[i])
                if m.per_clip_shuffle is not None:
                    row[f"{name}_shuffle"] = _num(m.per_clip_shuffle[i])
            row.update({k: _num(v[i]) if isinstance(v[i], float) else v[i] for k, v in self.per_clip_extra.items()})
            per_clip.append(row)
        return {
            "format_version": FORMAT_VERSION,
            "v2meow_version": __version__,
            "config": asdict(self.config),
            "backbone": self.backbone,
            "counts": self.counts,
            "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
            "problems": [p.to_dict() for p in self.problems],
            "notes": self.notes,
            "per_clip": per_clip,
        }


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def evaluate(
    config: EvalConfig,
    backbone: AudioBackbone | None = None,
    classifier: AudioClassifier | None = None,
    mcc_model: AudioBackbone | None = None,
    on_problem: Callable[[Problem], None] | None = None,
    progress: bool = True,
) -> EvalResult:
    """Run the whole evaluation.

    Args:
        config: folders and settings.
        backbone, classifier, mcc_model: built objects that override the ones `config`
            names (tests, or models not loadable by path).
        on_problem: called with each problem as soon as it is found.
        progress: show a progress bar over clips (on a terminal).

    Raises:
        ConfigError: a folder or the prompts file is unusable.
        MissingWeightsError: weights named in `config` are not found.
    """
    from tqdm.auto import tqdm

    report = on_problem or (lambda p: None)
    pairing = pair_files(config.generated, config.reference, config.videos)
    prompts = read_prompts(config.prompts) if config.prompts else {}
    for p in pairing.problems:
        report(p)
    backbone = backbone or build_backbone(config.backbone, config.weights, device=config.device)
    if mcc_model is None:
        if backbone.supports_text:
            mcc_model = backbone
        elif config.clap:
            mcc_model = ClapBackbone(load_clap_embedder(config.clap).to(config.device))
    if classifier is None and config.classifier:
        classifier = HFAudioClassifier.from_pretrained(config.classifier, config.classifier_activation, config.device)

    analyzer = ClipAnalyzer(backbone, mcc_model, classifier, config.rhythm, config.max_seconds)
    problems, clips = list(pairing.problems), []
    for stem in tqdm(pairing.stems, desc="v2meow-eval", unit="clip", disable=None if progress else True):
        clip = analyzer.analyze(stem, pairing.generated[stem], pairing.reference[stem], pairing.videos.get(stem))
        for p in clip.problems:
            report(p)
        problems += clip.problems
        if clip.gen_embeddings is not None:
            clips.append(clip)

    notes = list(pairing.notes)
    unprompted = [c.stem for c in clips if prompts and c.stem not in prompts]
    if unprompted:
        notes.append(
            f"{len(unprompted)} evaluated clip(s) have no prompt (e.g. '{unprompted[0]}'): no text MCC for them"
        )
    metrics = _metrics(clips, config, backbone, mcc_model, classifier, prompts, notes)
    counts = {
        "generated_files": len(pairing.generated),
        "reference_files": len(pairing.reference),
        "paired": len(pairing.stems),
        "evaluated": len(clips),
        "with_video": sum(c.video is not None for c in clips),
        "with_prompt": sum(c.stem in prompts for c in clips),
        "problems": len(problems),
    }
    extra = {
        "generated_seconds": [c.gen_seconds for c in clips],
        "music_tempo_bpm": [c.gen_rhythm.tempo if c.gen_rhythm else None for c in clips],
        "reference_tempo_bpm": [c.ref_rhythm.tempo if c.ref_rhythm else None for c in clips],
        "video_tempo_bpm": [c.video.tempo if c.video else None for c in clips],
        "video_beats": [int(c.video.times.size) if c.video else None for c in clips],
        "music_onsets": [int(c.gen_rhythm.times.size) if c.gen_rhythm else None for c in clips],
        "music_beats": [int(c.gen_events.beats.size) if c.gen_events else None for c in clips],
        "reference_beats": [int(c.ref_events.beats.size) if c.ref_events else None for c in clips],
        "video_source": [c.video_source for c in clips],
    }
    info = {"name": backbone.name, "label": backbone.label, "weight_free": backbone.weight_free}
    return EvalResult(config, info, [c.stem for c in clips], metrics, problems, notes, counts, extra)


def _metrics(
    clips: list[ClipAnalysis], config, backbone, mcc_model, classifier, prompts, notes
) -> dict[str, MetricResult]:
    if not clips:
        notes.append("no clip could be evaluated")
        return {}
    mb = MetricBuilder(clips, config.seed, config.bootstrap, config.level, config.shuffles)
    fad = mb.fad(f"FAD ({backbone.name}{', weight-free' if backbone.weight_free else ''})")
    if backbone.weight_free:
        fad.note = f"{fad.note}; weight-free mel-statistics backbone: compare only with runs of this same backbone"
    metrics = {"fad": fad, **_mcc_metrics(mb, clips, backbone, mcc_model, prompts, notes)}
    if mcc_model is not None:
        dc = mb.density_coverage(f"{mcc_model.name} clip embeddings", lambda v: v)
    else:  # one standardisation for both sets: these are distances between sets
        dc = mb.density_coverage(f"z-scored {backbone.name} clip means", standardizer([c.ref_vector for c in clips]))
    metrics.update(dc)
    if not dc:
        notes.append("density/coverage skipped: needs more than 5 evaluated clips")
    if classifier is not None:
        spec = {"kl": (f"KL(reference || generated) ({classifier.name})", False)}
        metrics.update(
            mb.paired(
                spec, lambda c: c.gen_probs, lambda c: c.ref_probs, kl_score, reference=lambda c: c.ref_probs, salt=6
            )
        )
    else:
        notes.append("KL skipped: no classifier given (--classifier DIR, an audio-classification checkpoint)")
    metrics.update(_judge_metrics(mb, clips, notes))
    b = config.beats
    specs = {
        "beat_coverage": ("Beats coverage score, BCS (LORIS, 1-s bins, vs reference music)", True),
        "beat_hit": ("Beats hit score, BHS (LORIS, 1-s bins, vs reference music)", True),
        "beat_iou": (f"Beat IoU (tracked beats +-{b.iou_tolerance:g} s, vs reference music)", True),
    }
    assert tuple(specs) == MUSIC_BEAT_METRICS
    gen_ev, ref_ev = (lambda c: c.gen_events), (lambda c: c.ref_events)
    metrics.update(mb.paired(specs, gen_ev, ref_ev, music_beat_score(b), reference=ref_ev, salt=10))
    if any(c.video is not None for c in clips):
        f1_title = f"Beat F-measure (mir_eval, video beats vs onsets, +-{b.tolerance:g} s)"
        if not has_mir_eval():
            f1_title += " – needs mir_eval: pip install 'v2meow[eval]'"
        specs = {
            "beat_alignment": (f"Beat alignment (MV-Align style, sigma={b.sigma:g} s)", True),
            "beat_hit_rate": (f"Video beats hit by an onset (+-{b.tolerance:g} s)", True),
            "beat_f1": (f1_title, True),
            "tempo_agreement": (f"Tempo agreement (within {100 * b.tempo_tolerance:g}%, x2/x0.5 allowed)", True),
            "tempo_error": ("Tempo error (octaves, x2/x0.5 folded)", False),
        }
        assert tuple(specs) == BEAT_METRICS
        music, video, ref = (lambda c: c.gen_rhythm), (lambda c: c.video), (lambda c: c.ref_rhythm)
        metrics.update(mb.paired(specs, music, video, rhythm_score(b), reference=ref, reference_true=True, salt=8))
        if not has_mir_eval():
            metrics["beat_f1"].note = "mir_eval is not installed (pip install 'v2meow[eval]'): no beat F-measure"
    else:
        notes.append(
            "beat metrics skipped: no video (give --videos DIR, or reference/generated files with a video stream)"
        )
    return metrics


JUDGE_TITLES = {
    "note_salience": "Note salience (basic-pitch: mean strongest note posterior)",
    "note_events_per_second": "Note events per second (basic-pitch, >= 0.1 s)",
    "beat_pulse": "Beat pulse (madmom RNN beat activation, autocorrelation peak 0.3-1.5 s)",
}


def _judged(clips, attr: str, name: str) -> np.ndarray:
    """Judge `name`'s figure of each clip from its `attr` dict, NaN where missing; [N], aligned with clips."""
    return np.array([np.nan if (v := _num((getattr(c, attr) or {}).get(name))) is None else v for c in clips])


def _judge_metrics(mb: MetricBuilder, clips, notes) -> dict[str, MetricResult]:
    """The pretrained judges (`evaluation.judges`) on the generated clips, with the reference
    music and a pink-noise floor of the same lengths as baselines, each with a bootstrap interval."""
    from v2meow.evaluation.judges import available, noise_to_music

    missing = [reason for reason in available().values() if reason]
    out = {}
    for i, (name, title) in enumerate(JUDGE_TITLES.items()):
        gen, ref, noise = (
            _judged(clips, attr, name) for attr in ("gen_judged", "ref_judged", "noise_judged")
        )  # [N] each
        if not np.isfinite(gen).any():
            continue
        res = MetricResult(name, title, True, mb._mean(gen, 900 + 10 * i), per_clip=gen)
        res.baselines["reference"] = mb._mean(ref[np.isfinite(ref)], 901 + 10 * i)
        res.baselines["noise"] = mb._mean(noise[np.isfinite(noise)], 902 + 10 * i)
        way = noise_to_music(res.estimate.value, res.baselines["reference"].value, res.baselines["noise"].value)
        if way is not None:
            res.note = (
                f"{100 * way:.0f} % of the way from the noise floor to the reference music "
                f"({int(np.isfinite(gen).sum())} clips)"
            )
        out[f"judge_{name}"] = res
    if not out:
        notes.append(
            "pretrained judges (note salience, note events, beat pulse) skipped: "
            + (missing[0] if missing else "no clip long enough")
        )
    return out


def _mcc_metrics(mb: MetricBuilder, clips, backbone, mcc_model, prompts, notes) -> dict[str, MetricResult]:
    """MCC: cosine of clip embeddings, against the reference audio and against the prompt.

    A real MCC needs a joint audio-text model (CLAP). Without one, the audio figure is the
    cosine of backbone embeddings z-scored within each set, so that a shift common to all
    generated clips (FAD's business) does not swamp which reference each one resembles.
    """
    out = {}
    joint = mcc_model is not None
    zg = (lambda v: v) if joint else standardizer([c.gen_vector for c in clips])
    zr = (lambda v: v) if joint else standardizer([c.ref_vector for c in clips])
    if joint:
        title = "MCC audio (CLAP cosine, generated vs reference)"
    else:
        title = f"Embedding cosine ({backbone.name}, z-scored per set; not MCC)"

    def ref(c):
        return zr(c.ref_vector)

    mcc = mb.paired({"mcc": (title, True)}, lambda c: zg(c.gen_vector), ref, mcc_score, reference=ref, salt=2)["mcc"]
    if not joint:
        mcc.note = (
            "no CLAP model (--backbone clap or --clap DIR): cosine of backbone embeddings z-scored within each set"
        )
    out["mcc_audio"] = mcc
    if prompts and joint:
        stems = [c.stem for c in clips if c.stem in prompts]
        text = dict(zip(stems, mcc_model.embed_text([prompts[s] for s in stems]), strict=True)) if stems else {}
        spec = {"mcc": ("MCC text (CLAP cosine, generated audio vs prompt)", True)}
        m = mb.paired(
            spec,
            lambda c: c.gen_vector,
            lambda c: text.get(c.stem),
            mcc_score,
            reference=lambda c: c.ref_vector,
            reference_true=True,
            salt=4,
        )
        out["mcc_text"] = m["mcc"]
    elif prompts:
        notes.append("prompts given but no CLAP model: text MCC skipped (use --backbone clap or --clap DIR)")
    return out
