"""`make demo-bundle`: the whole demo recipe, step by step, each step skipping finished work.

    python -m recipes.bundle                 # every step of the shipped bundle's recipe (3: bundle v3)
    python -m recipes.bundle --steps stage1  # one step (its inputs must exist)
    python -m recipes.bundle --recipe 2      # the demo bundle v2 (mel codec, AR stages 2 and 3)
    python -m recipes.bundle --recipe 1      # the first demo bundle (SoundStream, clips only)
    python -m recipes.bundle --recipe 4      # the bundle v4 in the making (issue-34 tokens), see below

Steps (outputs under `--runs`, default runs/demo_v3; runs/demo for --recipe 1, runs/demo_v2 for 2):
  data      Debian game music -> clips -> visualizer videos (data/demo); recipe 2 also links
            the whole training tracks (data/demo/train_tracks)
  codec     recipe 2: the mel codec's vocoder (configs/demo/v2/codec.yaml), then its codebooks
            fitted on the whole training tracks (v2meow-codec fit-mel, Griffin-Lim decoding);
            recipe 1: SoundStream on the training clips (configs/demo/codec.yaml)
  semantic  mel + k-means (K=256, 25 Hz) on the training music
  style     hashed-text caption embedder (weight-free)
  manifest  CSV of (video, caption, split); captions from package genre and measured tempo
  prepare   the cache: motion features at 10 Hz, semantic tokens, codes, caption embeddings
  stage1/2/3  training (configs/demo/v3/: stage1.yaml, stage2_maskgit.yaml, stage3_maskgit.yaml), resumed from last.ckpt
  bundle    checkpoints/demo (components + pipeline.json) and examples/demo.mp4

Training steps resume from `last.ckpt`, so the recipe can span several sessions on a
2-core machine. Every command it runs is printed, so each step can be rerun by hand.

Recipe 2 made the demo bundle v2 (runs/demo_v2, configs/demo/v2): the mel codec;
every training track as audio-only music besides the visualizer clips; captions
`{tempo} <genre>` filled per item; `v2meow-prepare --rhythm --stretch 0.8,0.9,1.1,1.25`; stage 1
with the rhythm channel on audio-only items too; stage 2 with time-aligned semantic tokens,
sampled at temperature 0.6 (docs/options.md).

Recipe 3 (runs/demo_v3, configs/demo/v3) makes the shipped demo bundle v3: recipe 2 with a held-out split by track: every
`VALID_EVERY`-th training track by sorted id (6 of the 71, about 8 % of the audio) has split
`valid`, its audio-only row and every visualizer clip cut from it alike, so no crop of a
validation track is trained on and the stages validate on `valid` (docs/training.md); captions
`{tempo} {energy} {brightness} <genre>`; the `mel128` codec (128 mel bands, 8 x 1024 codes fitted
on the training tracks, Griffin-Lim; docs/codec.md); the cache keeps each item's music
(`--keep-audio 24000`). (The codec and the semantic k-means, fitted on the training audio,
still hear those tracks: they are unsupervised and shared with recipe 2.) The cache in
runs/demo_v3 was prepared with the v2 codec and then recoded to `mel128`
(`v2meow-cache recode`): the same items, codes from the stored 24-kHz audio.

Recipe 4 (runs/demo_v4, configs/demo/v4) builds the bundle v4 on the issue-34 tokens: recipe 3's
data, split and captions; the codec is recipe 3's `mel128` (the same codebooks: copied from
runs/demo_v3 or, without it, from the bundle `--out` holds, so the codes the stages learned stay
valid), decoded by PGHI + 4 Griffin-Lim iterations (docs/tokens.md); the semantic tokenizer is
`checkpoints/semantic_v4` (k-means of the codec's own log-mel frames, with its frame table); the
cache (`cache_stretch`) has the rhythm channel and recipe 3's tempo-stretched copies (about an hour on
one core). Stage 1 trains on it (configs/demo/v4/stage1_stretch.yaml); stage 2 is the run of
`python -m recipes.stage2_v4` (configs/demo/v4/stage2_maskgit_rhythm_5k.yaml, then 2,000 steps more from lr 5e-4; its own audio-only
cache of the same tracks, tokens and codes: docs/training.md), copied into runs/demo_v4 when it has
exported and set to decode in one greedy pass (`decode_iterations: [1]`, the judges' choice in
docs/training.md); stage 3 is recipe 3's (the codec did not change), copied like the codec.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

from v2meow.errors import V2MeowError
from v2meow.signal.rhythm import tempo_word

STEPS = ("data", "codec", "semantic", "style", "manifest", "prepare", "stage1", "stage2", "stage3", "bundle")
GENRES = {
    "wesnoth-1.16-music": "orchestral fantasy",
    "warzone2100-music": "electronic sci-fi",
    "ufoai-music": "ambient sci-fi",
}
TRAIN_PACKAGES = ("wesnoth-1.16-music", "warzone2100-music")
FEATURE_RATE = 10.0


def caption(package: str, bpm: float | None) -> str:
    return f"{tempo_word(bpm)} {GENRES.get(package, 'game music')}".strip()


def _run(cmd: list[str]) -> None:
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd)
    if r.returncode != 0:
        raise V2MeowError(f"step failed (exit {r.returncode}): {' '.join(cmd)}")


def _cli(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


#: What differs in the demo bundle v2 (`--recipe 2`).
V2_STRETCH = "0.8,0.9,1.1,1.25"
V2_TEMPERATURES = (1.0, 0.6, 0.4)
#: Recipe 3: every VALID_EVERY-th training track (sorted by id, from the first) is held out as split `valid`.
VALID_EVERY = 12
#: Recipe 3 keeps each item's music at this rate, so `v2meow-cache recode` can swap the codec without preparing again.
V3_KEEP_AUDIO = 24000
V3_CAPTION = "{tempo} {energy} {brightness}"  # + the package's genre; filled per item by v2meow-prepare
#: Recipe 3's stage configs where they are not `<stage>.yaml`: the stage kinds that measured better
#: (docs/options.md, "The acoustic stages of bundle v3").
V3_STAGE_CONFIGS = {"stage2": "stage2_maskgit.yaml", "stage3": "stage3_maskgit.yaml"}
#: Recipe 3's generation settings by role (docs/options.md): stage 1's rhythm channel guided at 8
#: (tempo following: Spearman 0.64 / 0.90 on two seed sets against 0.46 / 0.39 at 3), the style
#: (text) at 3 (docs/training.md: 6 was no better on fresh clips).
V3_GUIDANCE = {"semantic": {"rhythm": 8.0, "style": 3.0}}
V3_TEMPERATURES = (1.0, 0.25, 1.0)  # maskgit coarse at 0.25: the ladder's best of 1.0 / 0.5 / 0.25 (docs/options.md)
#: Recipe 4: the issue-34 semantic tokenizer, and the runs it takes whole from elsewhere (see above).
V4_SEMANTIC = Path("checkpoints/semantic_v4")
V4_STAGE2_FIRST = Path("runs/s2v4/stage2_rhythm_5k")  # 5,000 steps, then a warm restart (docs/training.md)
V4_STAGE2_RUN = Path("runs/s2v4/stage2_rhythm_7k")
V4_STAGE2_RESTART = ("--set", "model.lr=5.0e-4", "--set", "model.warmup_steps=100", "--set", "model.schedule_steps=2000",
                     "--set", "trainer.max_steps=2000")  # fmt: skip
V4_STAGE_CONFIGS = {"stage1": "stage1_stretch.yaml", "stage2": "stage2_maskgit_rhythm_5k.yaml"}
RUNS = {1: "runs/demo", 2: "runs/demo_v2", 3: "runs/demo_v3", 4: "runs/demo_v4"}
CONFIGS = {1: "configs/demo", 2: "configs/demo/v2", 3: "configs/demo/v3", 4: "configs/demo/v4"}


def write_manifest_csv(path: Path, rows: list[dict]) -> None:
    """A `v2meow-prepare` manifest (video,audio,caption,split rows), written atomically."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["video", "audio", "caption", "split"])
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def held_out_tracks(tracks: list[dict], every: int = VALID_EVERY) -> set[str]:
    """Ids of the validation tracks: every `every`-th of the training packages' tracks, sorted by id."""
    ids = sorted(t["id"] for t in tracks if t["package"] in TRAIN_PACKAGES)
    return set(ids[::every])


def row_split(package: str, track: str | None, valid: set[str]) -> str:
    """`eval` for the held-out package, `valid` for a held-out training track, else `train`."""
    if package not in TRAIN_PACKAGES:
        return "eval"
    return "valid" if track in valid else "train"


class Recipe:
    """The demo recipe `version` over `data`; `holdout` (default: recipe 3 and later) gives the held-out
    training tracks (`held_out_tracks`) split `valid` in the manifest."""

    def __init__(self, data: Path, runs: Path, out: Path, configs: Path, version: int = 1, holdout: bool | None = None):
        self.data, self.runs, self.out, self.configs, self.version = data, runs, out, configs, version
        self.holdout = version >= 3 if holdout is None else holdout

    def data_step(self) -> None:
        _run(_cli("recipes.demo_data", "--out", str(self.data)))
        _run(_cli("recipes.render", "--clips", str(self.data / "clips.json"), "--out", str(self.data / "videos")))
        train = self.data / "train_audio"
        if not train.exists():  # the codec and k-means see only the training packages
            train.mkdir()
            for pkg in TRAIN_PACKAGES:
                shutil.copytree(self.data / "clips" / pkg, train / pkg, copy_function=_link)
        if self.version >= 2:
            self.link_train_tracks()

    def link_train_tracks(self) -> None:
        """v2: `train_tracks/<package>/` links to the whole training tracks (about 370 min, not the clips)."""
        tracks = self.data / "train_tracks"
        if not tracks.exists():
            staging = tracks.with_name("train_tracks.tmp")
            shutil.rmtree(staging, ignore_errors=True)
            for t in self._train_tracks():
                src = (self.data / t["path"]).resolve()
                dst = staging / t["package"] / (t["id"].replace("/", "_") + src.suffix)
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.symlink_to(src)
            staging.replace(tracks)

    def _train_tracks(self) -> list[dict]:
        tracks = json.loads((self.data / "tracks.json").read_text())["tracks"]
        return [t for t in tracks if t["package"] in TRAIN_PACKAGES]

    def _from_v3(self, name: str) -> None:
        """Recipe 4: recipe 3's component `name` (its run, or the bundle `--out` holds) as this run's."""
        dst = self.runs / name / name
        if (dst / "config.json").exists():
            return
        src = Path(RUNS[3]) / name / name
        src = src if (src / "config.json").exists() else self.out / name
        if not (src / "config.json").exists():
            raise V2MeowError(
                f"recipe 4 takes recipe 3's {name}: neither {Path(RUNS[3]) / name / name} nor {self.out / name} has one"
            )
        shutil.copytree(src, dst)

    def codec(self) -> None:
        if self.version >= 4:  # recipe 3's codebooks, decoded by PGHI + 4 Griffin-Lim iterations
            self._from_v3("codec")
            path = self.runs / "codec" / "codec" / "config.json"
            config = json.loads(path.read_text())
            if config.get("inversion") != "pghi":
                path.write_text(
                    json.dumps({**config, "inversion": "pghi", "pghi_iters": 4}, indent=2, sort_keys=True) + "\n"
                )
        elif self.version >= 3:  # mel128: fitted codebooks, no vocoder, decoded as its preset says (docs/codec.md)
            if not (self.runs / "codec" / "codec" / "model.safetensors").exists():
                _run(_cli("v2meow.cli.codec", "fit-mel", "--audio", str(self.data / "train_tracks"), "--preset", "mel128",
                          "--out", str(self.runs / "codec" / "codec")))  # fmt: skip
        elif self.version >= 2:  # the mel codec: its vocoder trained on the clips, then codebooks fitted on the tracks
            vocoder = self.runs / "codec_vocoder"
            if not (vocoder / "codec" / "model.safetensors").exists():
                _run(
                    _cli(
                        "v2meow.cli.train",
                        "codec",
                        "--config",
                        str(self.configs / "codec.yaml"),
                        "--out",
                        str(vocoder),
                        "--data",
                        str(self.data / "train_audio"),
                        "--ckpt-path",
                        "last",
                    )
                )
            if not (self.runs / "codec" / "codec" / "model.safetensors").exists():
                _run(
                    _cli(
                        "v2meow.cli.codec",
                        "fit-mel",
                        "--audio",
                        str(self.data / "train_tracks"),
                        "--from",
                        str(vocoder / "codec"),
                        "--inversion",
                        "griffin_lim",
                        "--out",
                        str(self.runs / "codec" / "codec"),
                    )
                )
        elif not (self.runs / "codec" / "codec" / "model.safetensors").exists():
            _run(
                _cli(
                    "v2meow.cli.train",
                    "codec",
                    "--config",
                    str(self.configs / "codec.yaml"),
                    "--out",
                    str(self.runs / "codec"),
                    "--data",
                    str(self.data / "train_audio"),
                    "--ckpt-path",
                    "last",
                )
            )

    def semantic(self) -> None:
        if self.version >= 4 and not (self.runs / "semantic" / "config.json").exists():
            shutil.copytree(V4_SEMANTIC, self.runs / "semantic")  # fitted as docs/tokens.md says
        if not (self.runs / "semantic" / "config.json").exists():
            _run(
                _cli(
                    "v2meow.cli.tokenizer",
                    "fit-kmeans",
                    "--audio",
                    str(self.data / "train_audio"),
                    "--backbone",
                    "mel",
                    "--k",
                    "256",
                    "--average-frames",
                    "2",
                    "--seed",
                    "0",
                    "--out",
                    str(self.runs / "semantic"),
                )
            )

    def style(self) -> None:
        from v2meow.tokenizers.style import HashedTextConfig, HashedTextEmbedder

        if not (self.runs / "style" / "config.json").exists():
            HashedTextEmbedder(HashedTextConfig(dim=64)).save_pretrained(self.runs / "style")

    def _caption(self, package: str, bpm: float | None) -> str:
        genre = GENRES.get(package, "game music")
        return (
            caption(package, bpm)
            if self.version == 1
            else f"{{tempo}} {genre}"
            if self.version == 2
            else f"{V3_CAPTION} {genre}"
        )

    def manifest(self) -> None:
        index = json.loads((self.data / "videos" / "videos.json").read_text())["videos"]
        path = self.runs / "manifest.csv"
        valid = (
            held_out_tracks(self._train_tracks()) if self.holdout and (self.data / "tracks.json").is_file() else set()
        )
        rows = [
            {
                "video": str((self.data / "videos" / v["video"]).resolve()),
                "audio": "",
                "caption": self._caption(v["package"], v.get("tempo")),
                "split": row_split(v["package"], v.get("track"), valid),
            }
            for v in index
        ]
        if self.version >= 2:  # every training track as audio-only music: stage 1 learns the rhythm channel from it too
            rows += [
                {
                    "video": "",
                    "audio": str((self.data / t["path"]).resolve()),
                    "split": row_split(t["package"], t.get("id"), valid),
                    "caption": self._caption(t["package"], None),
                }
                for t in self._train_tracks()
            ]
        write_manifest_csv(path, rows)

    @property
    def _cache(self) -> Path:
        """The prepared cache; recipe 4's is `cache_stretch`, apart from its first cache, which had no stretched copies."""
        return self.runs / ("cache_stretch" if self.version >= 4 else "cache")

    def prepare(self) -> None:
        _run(
            _cli(
                "v2meow.cli.prepare",
                "--input",
                str(self.runs / "manifest.csv"),
                "--out",
                str(self._cache),
                "--features",
                "motion",
                "--feature-rate",
                str(FEATURE_RATE),
                "--semantic",
                str(self.runs / "semantic"),
                "--codec",
                str(self.runs / "codec" / "codec"),
                "--style",
                str(self.runs / "style"),
                "--beat-weights",
                "--quiet",
                *(["--rhythm"] if self.version >= 2 else []),
                *(["--stretch", V2_STRETCH] if self.version >= 2 else []),
                *(["--keep-audio", str(V3_KEEP_AUDIO)] if self.version >= 3 else []),
            )
        )

    def stage(self, name: str) -> None:
        if self.version >= 4 and name == "stage3":
            return self._from_v3(name)
        if self.version >= 4 and name == "stage2":  # the campaign run (recipes.stage2_v4), once it has exported
            run = V4_STAGE2_RUN / name
            if not (run / "model.safetensors").exists():
                _run(_cli("recipes.stage2_v4"))
                config = str(self.configs / V4_STAGE_CONFIGS[name])
                _run(_cli("v2meow.cli.train", name, "--config", config, "--ckpt-path", "last"))
                _run(_cli("v2meow.cli.train", name, "--config", config, "--out", str(V4_STAGE2_RUN),
                          "--init-from", str(V4_STAGE2_FIRST / name), "--ckpt-path", "last", *V4_STAGE2_RESTART))  # fmt: skip
            if not (self.runs / name / name).exists():
                (self.runs / name).mkdir(parents=True, exist_ok=True)
                shutil.copytree(run, self.runs / name / name)
                path = self.runs / name / name / "config.json"  # decoded in one greedy pass (docs/training.md)
                path.write_text(json.dumps({**json.loads(path.read_text()), "decode_iterations": [1]}, indent=2) + "\n")
            return None
        configs = V3_STAGE_CONFIGS if self.version == 3 else V4_STAGE_CONFIGS if self.version >= 4 else {}
        config = configs.get(name, f"{name}.yaml")
        if not (self.runs / name / name / "model.safetensors").exists():
            _run(
                _cli(
                    "v2meow.cli.train",
                    name,
                    "--config",
                    str(self.configs / config),
                    "--out",
                    str(self.runs / name),
                    "--data",
                    str(self._cache),
                    "--ckpt-path",
                    "last",
                )
            )

    def bundle(self) -> None:
        from v2meow.components import cast_weights
        from v2meow.pipelines.bundle import GenerationConfig, write_bundle_file

        parts = {
            "stage1": self.runs / "stage1" / "stage1",
            "stage2": self.runs / "stage2" / "stage2",
            "stage3": self.runs / "stage3" / "stage3",
            "codec": self.runs / "codec" / "codec",
            "semantic": self.runs / "semantic",
            "style": self.runs / "style",
        }
        staging = self.out.with_name(self.out.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        for name, src in parts.items():
            shutil.copytree(src, staging / name)
            if self.version >= 3 and name.startswith("stage"):  # float16 storage: the bundle within 40 MB
                cast_weights(staging / name / "model.safetensors", "float16")
        generation = GenerationConfig(context_seconds=(4.0, 2.0, 1.0))  # windows 10 s, 4 s, 2 s
        if self.version >= 3:
            generation = generation.replace(temperatures=V3_TEMPERATURES, guidance=V3_GUIDANCE)
        elif self.version >= 2:
            generation = generation.replace(temperatures=V2_TEMPERATURES)
        write_bundle_file(
            staging, {"spec": "motion", "options": {"rate": FEATURE_RATE}}, {n: n for n in parts}, generation
        )
        shutil.rmtree(self.out, ignore_errors=True)
        staging.replace(self.out)
        table = sha256_table(self.out)
        (self.runs / "sha256.md").write_text(table)
        print(table, file=sys.stderr)
        example = Path("examples") / "demo.mp4"
        if not example.exists():
            make_example(self.data, example)

    def run(self, steps: list[str]) -> None:
        for step in steps:
            print(f"== demo-bundle: {step}", file=sys.stderr, flush=True)
            if step.startswith("stage"):
                self.stage(step)
            else:
                getattr(self, "data_step" if step == "data" else step)()


def sha256_table(directory: Path) -> str:
    """A markdown table of every file under `directory` with its size and sha256 (for checkpoints.md)."""
    import hashlib

    rows = ["| file | bytes | sha256 |", "|---|---|---|"]
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rows.append(f"| `{path.as_posix()}` | {path.stat().st_size} | `{digest}` |")
    return "\n".join(rows) + "\n"


def _link(src: str, dst: str) -> None:
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


def make_example(data: Path, out: Path, seconds: float = 20.0) -> Path:
    """A silent copy (video stream only) of a held-out visualizer video, for `make demo`."""
    import av

    from v2meow.safety.outputs import atomic_output

    index = json.loads((data / "videos" / "videos.json").read_text())["videos"]
    held_out = sorted(
        (v for v in index if v["package"] not in TRAIN_PACKAGES), key=lambda v: abs(v["duration"] - seconds)
    )
    src = data / "videos" / held_out[0]["video"]
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(src)) as inp, atomic_output(out) as tmp:
        with av.open(str(tmp), "w", format="mp4") as dst:
            vin = inp.streams.video[0]
            vout = dst.add_stream_from_template(vin)
            for packet in inp.demux(vin):
                if packet.dts is None:
                    continue
                packet.stream = vout
                dst.mux(packet)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m recipes.bundle", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated subset of: {', '.join(STEPS)}")
    p.add_argument(
        "--recipe",
        type=int,
        choices=[1, 2, 3, 4],
        default=3,
        help="3: the shipped demo bundle (v3); 2: the v2 bundle; 1: the first one; 4: v4 in the making (see above)",
    )
    p.add_argument("--data", default="data/demo")
    p.add_argument("--runs", help="run folder (default runs/demo, runs/demo_vN for --recipe N >= 2)")
    p.add_argument("--out", help="the bundle (default checkpoints/demo)")
    p.add_argument("--configs", help="configs (default configs/demo, configs/demo/vN for --recipe N >= 2)")
    args = p.parse_args(argv)
    args.runs = args.runs or RUNS[args.recipe]
    args.configs = args.configs or CONFIGS[args.recipe]
    args.out = args.out or "checkpoints/demo"
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        print(f"demo-bundle: error: unknown step(s) {', '.join(unknown)} (known: {', '.join(STEPS)})", file=sys.stderr)
        return 2
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    try:
        Recipe(Path(args.data), Path(args.runs), Path(args.out), Path(args.configs), args.recipe).run(steps)
    except V2MeowError as e:
        print(f"demo-bundle: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
