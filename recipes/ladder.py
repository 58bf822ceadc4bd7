"""The ladder: which link of the chain keeps the rhythm, each tested with ground truth fed in.

On held-out music (and pulse videos for stage 1), the tempo that comes out of each link is
compared with the true one by the octave-folded deviation
`|log2(est / true) - round(log2(est / true))|` (0: the same tempo or an octave of it; about
0.25: chance). Links, from the bottom up:

1. `codec`: the music encoded and decoded by the codec;
2. `stage3`: stage 3 sampling the fine codes from the music's true coarse codes, decoded;
3. `semantic`: the music's semantic tokens themselves, read back as a novelty curve of their
   centroids (the log-mel flux of the centroids for the weight-free `mel` backbone);
4. `stage2`: stages 2 and 3 from the music's true semantic tokens, decoded
   (`V2MeowPipeline.resynthesize`);
5. `stage1`: stage 1's semantic tokens for silent videos pulsing at known tempi, read as in 3,
   without and with guidance.

With the judges extra (`make judges`), the music links are also rated by the two pretrained
judges (`v2meow.evaluation.judges`: note salience, note events/s, beat pulse) next to the
excerpts themselves and a pink-noise floor of the same length, in the same run: `judges`
holds the medians and `judges_retained` each link's share of the codec round trip's
(issue 26's resynthesis target: >= 90 % of the codec's note salience and beat pulse).

Run: `python -m recipes.ladder [--bundle checkpoints/demo] [--data data/demo] [--out FILE.json]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from v2meow import media
from v2meow.signal.rhythm import estimate_tempo, music_rhythm, octave_deviation

PULSE_TEMPI = (70, 88, 106, 124, 142, 160)


def music_tempo(wav: torch.Tensor, sample_rate: int) -> float | None:
    """Estimated tempo (BPM) of `[C, N]` or `[N]` audio."""
    mono = wav.float().mean(0) if wav.dim() == 2 else wav.float()
    return music_rhythm(mono.numpy(), sample_rate).tempo


def token_novelty(tokenizer, tokens: torch.Tensor) -> np.ndarray:
    """A novelty curve `[T]` of semantic tokens `[T]`: the positive log-mel flux of their centroids
    (`mel` backbone), or the distance between consecutive centroids (other backbones)."""
    q = tokenizer.quantizer
    feats = (q.centroids[tokens.long()] * q.std + q.mean).double().numpy()  # [T, D] in feature space
    if tokenizer.config.backbone == "mel":
        n_mels = int(tokenizer.config.backbone_spec.get("n_mels", feats.shape[1]))
        flux = np.maximum(0.0, np.diff(feats[:, :n_mels], axis=0)).mean(1)
    else:
        flux = np.linalg.norm(np.diff(feats, axis=0), axis=1)
    return np.concatenate([[0.0], flux])


def token_tempo(tokenizer, tokens: torch.Tensor) -> float | None:
    return estimate_tempo(token_novelty(tokenizer, tokens), float(tokenizer.frame_rate))


def has_steady_tempo(wav: torch.Tensor, sample_rate: int, tolerance: float = 0.03) -> bool:
    """Whether the tempo of `[1, N]` audio is the same (within `tolerance` octaves, octave-folded) on
    the whole excerpt and on its first and last 70 %: music whose tempo the estimator can read."""
    n = wav.shape[-1]
    whole = music_tempo(wav, sample_rate)
    parts = (music_tempo(wav[..., : int(0.7 * n)], sample_rate), music_tempo(wav[..., int(0.3 * n) :], sample_rate))
    return all(octave_deviation(p, whole) <= tolerance for p in parts)


def held_out_excerpts(data: Path, n: int, seconds: float) -> list[tuple[str, torch.Tensor, int]]:
    """The first `seconds` of the first `n` held-out (eval split) clips with a steady, readable
    tempo (`has_steady_tempo`; ambient clips without a pulse say nothing about rhythm): (id, wav [1, N], rate)."""
    index = json.loads((data / "clips.json").read_text())
    out = []
    for c in sorted((c for c in index["clips"] if c["split"] == "eval"), key=lambda c: c["id"]):
        wav, sr = media.read_audio(data / c["path"], channels=1, duration=seconds)
        if has_steady_tempo(wav, sr):
            out.append((c["id"], wav, sr))
        if len(out) == n:
            break
    return out


def music_links(
    pipe,
    excerpts,
    seed: int = 0,
    stage2_seeds: int = 1,
    overrides: dict | None = None,
    judged: dict | None = None,
    table=None,
) -> dict[str, list[float]]:
    """Deviation per excerpt for the links that start from music: codec, stage3, semantic, and
    stage2 (`stage2_seeds` resyntheses per excerpt; `overrides` as for `pipe(...)`, e.g. temperatures).
    `judged`, when given, collects the judges' scores per link (`judge_or_none` dicts), with the
    excerpts themselves as `music`, a pink-noise floor as `noise`, and, for a tokenizer that carries a
    token frame table (`table`, `frames.TokenFrames`), the semantic sketch as `sketch` (the lookup
    table stage 2 must beat: `v2meow-codec sketch`)."""
    from v2meow.evaluation.judges import judge_or_none, pink_noise
    from v2meow.tokenizers.semantic.frames import sketch

    devs: dict[str, list[float]] = {"codec": [], "stage3": [], "semantic": [], "stage2": []}

    def rate(link: str, audio, sample_rate: int) -> None:
        if judged is not None:
            audio = audio.float().mean(0) if hasattr(audio, "dim") and audio.dim() == 2 else audio
            judged.setdefault(link, []).append(judge_or_none(audio, sample_rate))

    gen = pipe.generation.replace(seed=seed, **(overrides or {}))
    for _, wav, sr in excerpts:
        truth = music_tempo(wav, sr)
        codec_wav = media.resample(wav.numpy(), sr, pipe.codec.sample_rate)
        n = codec_wav.shape[-1]
        with torch.inference_mode():
            codes = pipe.codec.encode(torch.from_numpy(codec_wav)[None])  # [1, K, T]
            round_trip = pipe.codec.decode(codes, length=n)[0]
            coarse = codes[:, : pipe.codec.num_coarse]
            fine = pipe.fine_tokens(
                coarse, n / pipe.codec.sample_rate, generation=gen, generator=torch.Generator().manual_seed(seed)
            )
            from_coarse = pipe.decode(coarse, fine, n / pipe.codec.sample_rate)[0]
        devs["codec"].append(octave_deviation(music_tempo(round_trip, pipe.codec.sample_rate), truth))
        devs["stage3"].append(octave_deviation(music_tempo(from_coarse, pipe.codec.sample_rate), truth))
        rate("music", wav[0], sr)
        rate("noise", pink_noise(wav.shape[-1], sr, seed=len(devs["codec"])), sr)
        rate("codec", round_trip, pipe.codec.sample_rate)
        rate("stage3", from_coarse, pipe.codec.sample_rate)
        tokens, _ = pipe.audio_semantic_tokens(wav, sr)
        devs["semantic"].append(octave_deviation(token_tempo(pipe.semantic, tokens), truth))
        if (
            table is not None and judged is not None
        ):  # the lookup that stage 2 must beat: each token's average codec frames, inverted
            rate("sketch", sketch(pipe.semantic, table, pipe.codec, wav, sr), pipe.codec.sample_rate)
        for s in range(seed, seed + stage2_seeds):
            out = pipe.resynthesize(wav, sr, seed=s, **(overrides or {}))
            devs["stage2"].append(octave_deviation(music_tempo(out.audio[0], out.sample_rate), truth))
            rate("stage2", out.audio[0], out.sample_rate)
    return devs


def judges_summary(judged: dict[str, list[dict]]) -> dict:
    """Medians per link and score, and each link's median as a share of the codec round trip's
    (None where the judges are missing)."""
    from v2meow.evaluation.judges import median_scores

    med = {
        link: {k: (None if v is None else round(v, 3)) for k, v in median_scores(rows).items()}
        for link, rows in judged.items()
        if rows
    }
    codec = med.get("codec", {})
    retained = {
        link: {
            k: (round(x / codec[k], 3) if x is not None and codec.get(k) else None)
            for k, x in scores.items()
            if k != "note_events_per_second"
        }
        for link, scores in med.items()
        if link in ("stage3", "stage2", "sketch")
    }
    return {"judges": med, "judges_retained": retained}


def stage1_link(
    pipe, seconds: float, seeds: int, guidance: float | dict[str, float], overrides: dict | None = None
) -> list[float]:
    """Deviation of stage 1's tokens (read as in `token_tempo`) from each pulse video's tempo;
    `guidance`: the scale of all conditions together, or scales by condition name; it replaces the
    bundle's own stage-1 guidance (bundle v3 guides rhythm and style by default), so 1.0 is none."""
    from recipes.visualizer import render_pulse

    devs = []
    sampling = {role: s.to_dict() for role, s in pipe.generation.sampling.items()}
    if isinstance(guidance, dict):
        sampling["semantic"]["guidance"] = dict(guidance)
    else:
        sampling["semantic"]["guidance"] = {} if guidance == 1.0 else {"all": guidance}
    gen = pipe.generation.replace(sampling=sampling, **(overrides or {}))
    with tempfile.TemporaryDirectory() as tmp:
        for bpm in PULSE_TEMPI:
            video = Path(tmp) / f"pulse{bpm}.mp4"
            render_pulse(bpm, seconds, video, seed=0)
            feats = pipe.extract_features(video)
            for seed in range(seeds):
                rhythm = pipe.video_channel("rhythm", video, feats) if pipe.uses_rhythm else None
                with torch.inference_mode():
                    tokens = pipe.semantic_tokens(
                        feats,
                        None,
                        num_samples=1,
                        generation=gen,
                        rhythm=rhythm,
                        generator=torch.Generator().manual_seed(seed),
                    )[0]
                devs.append(octave_deviation(token_tempo(pipe.semantic, tokens.cpu()), bpm))
    return devs


def run(bundle: str, data: Path, clips: int = 8, seconds: float = 10.0, seeds: int = 2, **options) -> dict:
    from v2meow.pipelines import V2MeowPipeline

    torch.set_num_threads(1)
    pipe = V2MeowPipeline.from_pretrained(bundle)
    return {"bundle": str(bundle), **measure(pipe, data, clips, seconds, seeds, table=sketch_table(bundle), **options)}


def sketch_table(bundle: str):
    """The bundle's semantic tokenizer's token frame table (`frames.safetensors`), or None without one."""
    from v2meow.pipelines.bundle import read_bundle
    from v2meow.tokenizers.semantic.frames import FRAMES_NAME, load_token_frames

    semantic = Path(read_bundle(bundle)["components"]["semantic"])
    return load_token_frames(semantic) if (semantic / FRAMES_NAME).is_file() else None


def measure(
    pipe,
    data: Path,
    clips: int = 8,
    seconds: float = 10.0,
    seeds: int = 2,
    stage2_seeds: int = 1,
    overrides: dict | None = None,
    stage1: bool = True,
    table=None,
) -> dict:
    """Every link's deviations for a loaded pipeline (see the module docstring); `overrides` (e.g.
    `temperatures`) apply to every link that samples; `stage1=False` skips the pulse videos; `table`:
    the tokenizer's token frames, for the sketch row."""
    excerpts = held_out_excerpts(data, clips, seconds)
    judged: dict[str, list[dict]] = {}
    links = music_links(pipe, excerpts, stage2_seeds=stage2_seeds, overrides=overrides, judged=judged, table=table)
    if stage1:
        links["stage1_guidance1"] = stage1_link(pipe, seconds, seeds, 1.0, overrides)
        links["stage1_guidance3"] = stage1_link(pipe, seconds, seeds, 3.0, overrides)
        if pipe.uses_rhythm:  # guidance on the rhythm channel alone
            links["stage1_rhythm_guidance3"] = stage1_link(pipe, seconds, seeds, {"rhythm": 3.0}, overrides)
    return {
        "clips": [e[0] for e in excerpts],
        "seconds": seconds,
        "median_deviation": {
            k: round(float(np.nanmedian(v)), 3) if np.isfinite(v).any() else None for k, v in links.items()
        },
        "deviations": {k: [round(x, 3) for x in v] for k, v in links.items()},
        "chance": 0.25,
        "target_stage2": 0.05,
        **judges_summary(judged),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m recipes.ladder", description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", default="checkpoints/demo")
    p.add_argument("--data", default="data/demo", help="the demo data (make demo-data)")
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--seeds", type=int, default=2, help="seeds per pulse tempo for the stage-1 link")
    p.add_argument("--stage2-seeds", type=int, default=1, help="resyntheses per clip for the stage-2 link")
    p.add_argument(
        "--temperatures", metavar="T1,T2,T3", help="sampling temperatures of the stages (default: the bundle's)"
    )
    p.add_argument(
        "--guidance",
        action="append",
        metavar="ROLE.CONDITION=SCALE",
        help="a guidance scale added to the bundle's, e.g. coarse.semantic=2 (repeatable)",
    )
    p.add_argument("--no-stage1", action="store_true", help="skip the stage-1 link (pulse videos)")
    p.add_argument("--out", help="also write the result as JSON here")
    a = p.parse_args(argv)
    from v2meow.cli.bundle import parse_guidance

    overrides = {"temperatures": tuple(float(t) for t in a.temperatures.split(","))} if a.temperatures else {}
    if a.guidance:
        overrides["guidance"] = parse_guidance(a.guidance)
    overrides = overrides or None
    result = run(
        a.bundle,
        Path(a.data),
        a.clips,
        a.seconds,
        a.seeds,
        stage2_seeds=a.stage2_seeds,
        overrides=overrides,
        stage1=not a.no_stage1,
    )
    text = json.dumps(result, indent=2)
    if a.out:
        from v2meow.safety.outputs import atomic_output

        with atomic_output(a.out) as tmp:
            tmp.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
