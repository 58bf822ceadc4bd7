"""`v2meow-tokenizer`: fit the semantic tokenizer's k-means on a folder of audio, and encode audio."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from v2meow.cli.common import parse, run

PROG = "v2meow-tokenizer"
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".mkv", ".webm", ".mov"}

DESCRIPTION = """\
Semantic tokens: one hidden layer of an audio backbone, quantised by k-means.

  fit-kmeans  stream backbone features over a folder of audio (any length: memory
              stays bounded), fit K centroids, write a tokenizer directory
              (config.json + model.safetensors) atomically.
              (alias: fit)
  frames      average, per token, a mel codec's log-mel frames over a folder of
              (training) audio; stored beside the tokenizer as frames.safetensors,
              which `v2meow-codec sketch` decodes tokens with.
  encode      audio file -> token ids, written to a .safetensors file.

Backbones: w2v-bert (w2v-BERT 2.0, 50 Hz, default layer 7), hubert (HuBERT or MERT,
default layer 6), mel (weight-free log-mel, 50 Hz; weaker, for demos and machines
with no pretrained weights), mel-pitch (weight-free log-mel + chroma + pitch salience
+ onset strength, 50 Hz; options such as block weights via --backbone-spec). Pretrained weights are read from --weights (a local
directory) or the Hugging Face cache; the network is never used.
"""


FIT_DESCRIPTION = """\
Fit the k-means of a semantic tokenizer. Files are visited in a seeded random order;
each is decoded, downmixed and resampled to the backbone's rate, and its features
(one layer, chunks of 30 s) go through a shuffle pool into MiniBatchKMeans.partial_fit,
seeded by k-means++ on the first full pool. Memory: about 3 x batch-frames x dim
floats, whatever the amount of audio. Unreadable or too-short files are skipped and
listed. Pretrained backbones are referenced by path/repo id in the output's
config.json, not copied (unless --inline-backbone).
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{fit-kmeans,frames,encode}")

    f = sub.add_parser(
        "fit-kmeans",
        aliases=["fit"],
        help="fit k-means on a folder of audio and write a tokenizer directory",
        description=FIT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f.add_argument("--audio", required=True, help="folder (searched recursively) or single audio/video file")
    # no argparse choices: the registry imports torch, and --help answers without it; an unknown name is
    # one line from the registry, naming the known ones
    f.add_argument("--backbone", required=True, help="w2v-bert, hubert, mert, mel or mel-pitch (see above)")
    f.add_argument(
        "--weights",
        default=None,
        help="local model directory or cached HF repo id (default: facebook/w2v-bert-2.0, facebook/hubert-base-ls960; "
        "MERT: m-a-p/MERT-v1-95M; a converted fairseq HuBERT directory works too)",
    )
    f.add_argument(
        "--layer", type=int, default=None, help="1-based transformer layer (default 7 for w2v-bert, 6 for hubert)"
    )
    f.add_argument(
        "--backbone-spec",
        default=None,
        help='JSON object of backbone options, e.g. \'{"block_weights": {"chroma": 1.5}}\' for mel-pitch',
    )
    f.add_argument(
        "--frames-codec",
        default=None,
        help="a mel codec directory: also store each token's average log-mel frames over the same audio",
    )
    f.add_argument("--k", type=int, default=1024, help="number of clusters = vocabulary size (default 1024)")
    f.add_argument(
        "--out", required=True, help="output tokenizer directory (must not exist or be empty, unless --overwrite)"
    )
    f.add_argument("--max-frames", type=int, default=None, help="stop after this many feature frames")
    f.add_argument(
        "--frame-fraction", type=float, default=1.0, help="keep each frame with this probability (default 1)"
    )
    f.add_argument("--average-frames", type=int, choices=[1, 2], default=1, help="2 averages frame pairs (50 -> 25 Hz)")
    f.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="standardise features before k-means (default: on for mel only)",
    )
    f.add_argument("--batch-frames", type=int, default=None, help="frames per k-means step (default max(10000, 20k))")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument(
        "--inline-backbone", action="store_true", help="copy pretrained backbone weights into the tokenizer directory"
    )
    f.add_argument("--device", default="cpu", help="cpu or cuda")
    f.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")
    f.add_argument("--quiet", action="store_true", help="no progress bar")

    fr = sub.add_parser("frames", help="store each token's average codec log-mel frames (for v2meow-codec sketch)")
    fr.add_argument("--tokenizer", required=True, help="tokenizer directory (frames.safetensors is written into it)")
    fr.add_argument("--codec", required=True, help="a mel codec directory (e.g. checkpoints/demo/codec)")
    fr.add_argument("--audio", required=True, help="folder (searched recursively) or file of training audio")
    fr.add_argument("--quiet", action="store_true", help="no progress bar")

    e = sub.add_parser("encode", help="encode one audio file to semantic token ids")
    e.add_argument("input", help="audio or video file")
    e.add_argument("--tokenizer", required=True, help="tokenizer directory written by fit-kmeans")
    e.add_argument("--out", required=True, help="output .safetensors: tensor `tokens` [T] int64 + metadata")
    e.add_argument(
        "--weights", default=None, help="where the referenced backbone weights are now (overrides the config)"
    )
    e.add_argument("--device", default="cpu", help="cpu or cuda")
    return parse(p, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    commands = {"fit-kmeans": _fit, "fit": _fit, "frames": _frames, "encode": _encode}
    return run(PROG, lambda: commands[args.command](args), args=args)


def find_audio(root: str | Path) -> list[Path]:
    """Audio/video files under `root` (recursively), sorted; `root` itself if it is a file."""
    from v2meow.errors import MediaError

    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise MediaError(f"{root}: no such file or directory")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise MediaError(f"{root}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))})")
    return files


def _fit(args: argparse.Namespace) -> int:
    from v2meow.safety.outputs import atomic_directory, check_output_dir
    from v2meow.tokenizers.semantic import FitReport, fit_kmeans, fit_token_frames, load_backbone, save_token_frames
    from v2meow.tokenizers.semantic.registry import backbone_class

    backbone_class(args.backbone)  # an unknown name: one line naming the known ones, before any work
    _quiet_transformers()
    check_output_dir(args.out, [args.audio])
    options = _backbone_options(args.backbone_spec)
    files = find_audio(args.audio)
    codec = _mel_codec(args.frames_codec) if args.frames_codec else None
    report = FitReport()
    progress = None
    if not args.quiet:
        from tqdm import tqdm

        def progress(items):
            return tqdm(items, desc="k-means features", unit="file", file=sys.stderr)

    try:
        with atomic_directory(args.out, overwrite=args.overwrite) as tmp:  # checks --out before the long fit
            backbone = load_backbone(args.backbone, args.weights, layer=args.layer, **options).to(args.device)
            tok = fit_kmeans(
                [str(f) for f in files],
                backbone,
                args.k,
                average_frames=args.average_frames,
                normalize=args.normalize,
                max_frames=args.max_frames,
                frame_fraction=args.frame_fraction,
                batch_frames=args.batch_frames,
                seed=args.seed,
                inline_backbone=True if args.inline_backbone else None,
                on_error="skip",
                report=report,
                progress=progress,
            )
            tok.cpu().save_pretrained(tmp)
            if codec is not None:
                save_token_frames(tmp, fit_token_frames(tok, codec, [str(f) for f in files], on_error="skip",
                                                        progress=_bar("token frames", args.quiet)))  # fmt: skip
    finally:
        for line in report.skipped:
            print(f"{PROG}: skipped {line}", file=sys.stderr)
    print(
        f"{args.out}: {args.backbone} tokenizer, K={tok.vocab_size}, {tok.frame_rate:g} Hz, "
        f"{report.frames} frames from {report.files_used} file(s), {len(report.skipped)} skipped",
        file=sys.stderr,
    )
    return 0


def _backbone_options(text: str | None) -> dict:
    import json

    from v2meow.errors import ConfigError

    if not text:
        return {}
    try:
        options = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"--backbone-spec: not JSON ({e})") from None
    if not isinstance(options, dict):
        raise ConfigError("--backbone-spec: must be a JSON object")
    clash = sorted({"weights", "layer"} & set(options))
    if clash:
        raise ConfigError(f"--backbone-spec: give {', '.join(clash)} with --{' and --'.join(clash)}")
    return options


def _mel_codec(path: str):
    from v2meow.tokenizers.acoustic import load_codec
    from v2meow.tokenizers.semantic.frames import codec_space

    codec = load_codec(path)
    codec_space(codec)  # a mel codec, or a one-line ConfigError before any work
    return codec.eval()


def _bar(desc: str, quiet: bool):
    if quiet:
        return None
    from tqdm import tqdm

    return lambda items: tqdm(items, desc=desc, unit="file", file=sys.stderr)


def _frames(args: argparse.Namespace) -> int:
    from v2meow.tokenizers.semantic import SemanticTokenizer, fit_token_frames, save_token_frames

    tok = SemanticTokenizer.from_pretrained(args.tokenizer)
    codec = _mel_codec(args.codec)
    files = find_audio(args.audio)
    skipped: list[str] = []
    table = fit_token_frames(
        tok, codec, [str(f) for f in files], on_error="skip", skipped=skipped, progress=_bar("token frames", args.quiet)
    )
    for line in skipped:
        print(f"{PROG}: skipped {line}", file=sys.stderr)
    path = save_token_frames(args.tokenizer, table)
    seen = int((table.counts > 0).sum())
    print(
        f"{path}: {table.frames.shape[1]} codec frames x {table.frames.shape[2]} bands for each of {tok.vocab_size} "
        f"tokens ({seen} seen in {len(files) - len(skipped)} file(s))",
        file=sys.stderr,
    )
    return 0


def _encode(args: argparse.Namespace) -> int:
    from safetensors.torch import save_file

    from v2meow.media import read_audio
    from v2meow.safety.outputs import atomic_output, check_outputs
    from v2meow.tokenizers.semantic import SemanticTokenizer

    check_outputs([args.out], [args.input, args.tokenizer], [".safetensors"])  # before the tokenizer loads
    _quiet_transformers()
    tok = SemanticTokenizer.from_pretrained(args.tokenizer, backbone_weights=args.weights).to(args.device)
    wav, sr = read_audio(args.input, sample_rate=tok.sample_rate, channels=1)  # [1, N] mono at the tokenizer's rate
    tokens = tok.encode(wav, sr)  # [T]
    meta = {
        "format": "v2meow.semantic_tokens",
        "format_version": "1",
        "frame_rate": repr(tok.frame_rate),
        "vocab_size": str(tok.vocab_size),
        "sample_rate": str(tok.sample_rate),
        "backbone": tok.config.backbone,
        "source": str(args.input),
        "tokenizer": str(args.tokenizer),
    }
    with atomic_output(args.out) as tmp:
        save_file({"tokens": tokens.contiguous()}, str(tmp), metadata=meta)
    print(f"{args.out}: {tokens.numel()} tokens at {tok.frame_rate:g} Hz (K={tok.vocab_size})", file=sys.stderr)
    return 0


def _quiet_transformers() -> None:
    """transformers' own loading bars and warnings would drown the one-line output (CLI only)."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


if __name__ == "__main__":
    sys.exit(main())
