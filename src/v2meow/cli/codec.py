"""`v2meow-codec encode|decode|fit-mel`: audio <-> acoustic codes files; a mel codec's codebooks."""

from __future__ import annotations

import argparse
import sys

from v2meow.cli.common import parse, run

DESCRIPTION = """\
encode IN OUT.safetensors --codec DIR   audio file (any format, rate, channels) -> codes
decode IN.safetensors OUT.wav --codec DIR   codes -> audio at the codec's rate, trimmed
                                            to the encoded length

--codec is a codec component directory (SoundStream or EnCodec, see v2meow-export), a
transformers EnCodec directory, or facebook/encodec_24khz from the local HF cache. The
codes file holds tensor `codes` [K, T] and the codec's contract (sample_rate, frame_rate,
codebook_size, num_samples, codec id) as metadata. Outputs are written atomically.

fit-mel --audio DIR --out DIR   a mel codec (iSTFT codec with the fixed log-mel encoder) whose
                                codebooks are residual k-means of every frame of the audio
    --from DIR        start from this mel codec (its vocoder weights and config), else --preset
    --inversion       vocoder (the trained decoder) | griffin_lim | pghi (weight-free: Griffin-Lim,
                      or phase-gradient heap integration; without --from, the preset's own
                      weight-free inversion, else griffin_lim, since a fresh vocoder is untrained)
  e.g. v2meow-codec fit-mel --audio data/demo/train_audio --from runs/codec/codec \\
           --inversion griffin_lim --out runs/codec_fit
  Train the vocoder afterwards without changing the codes: v2meow-train codec
  --set model.init_from=runs/codec_fit --set model.freeze_codebooks=true ...

sketch IN OUT.wav --bundle DIR   the semantic sketch, a diagnostic of what stage 1 can at most
                                 say: audio -> the bundle's semantic tokens -> each token's
                                 average codec log-mel frames over the training music (the
                                 tokenizer's frames.safetensors, see `v2meow-tokenizer frames`)
                                 -> the bundle codec's own inversion -> audio as long as IN
    --tokenizer DIR   another semantic tokenizer (with frames.safetensors) than the bundle's
  e.g. v2meow-codec sketch song.wav sketch.wav --bundle checkpoints/demo --tokenizer checkpoints/semantic_v4
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="v2meow-codec", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    for name, src, dst in (
        ("encode", "input audio file", "output .safetensors"),
        ("decode", "input .safetensors", "output audio (.wav, .flac, .ogg)"),
    ):
        s = sub.add_parser(name, help=f"{src} -> {dst}")
        s.add_argument("input", help=src)
        s.add_argument("output", help=dst)
        s.add_argument("--codec", required=True, help="codec directory or facebook/encodec_24khz")
        s.add_argument("--bandwidth", type=float, help="EnCodec only: kbps (1.5, 3, 6, 12, 24)")
        s.add_argument("--device", default="cpu", help="cpu or cuda")
    f = sub.add_parser("fit-mel", help="fit a mel codec's codebooks (residual k-means) on a folder of audio")
    f.add_argument("--audio", required=True, help="folder of training audio (searched recursively)")
    f.add_argument("--out", required=True, help="output codec component directory")
    f.add_argument("--from", dest="source", help="a mel codec component to start from (vocoder weights, config)")
    f.add_argument("--preset", default="demo", help="VocosCodec preset when --from is not given (default: demo)")
    f.add_argument("--inversion", choices=("vocoder", "griffin_lim", "pghi"), help="how codes become audio (see above)")
    f.add_argument("--max-frames", type=int, default=200_000, help="frames sampled for k-means (default: 200000)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")
    k = sub.add_parser("sketch", help="audio -> semantic tokens -> average codec frames -> audio (a diagnostic)")
    k.add_argument("input", help="input audio or video file")
    k.add_argument("output", help="output audio (.wav, .flac, .ogg)")
    k.add_argument("--bundle", required=True, help="bundle directory (pipeline.json): its codec and semantic tokenizer")
    k.add_argument("--tokenizer", help="semantic tokenizer directory with frames.safetensors (default: the bundle's)")
    return parse(p, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run("v2meow-codec", lambda: _main(args), args=args)


def _main(args: argparse.Namespace) -> int:
    if args.command == "fit-mel":
        return _fit_mel(args)
    if args.command == "sketch":
        return _sketch(args)
    from v2meow.media import read_audio, write_audio
    from v2meow.safety.outputs import check_outputs
    from v2meow.tokenizers.acoustic import EncodedAudio, InvalidAudioError, load_codec

    suffixes = [".safetensors"] if args.command == "encode" else [".wav", ".flac", ".ogg"]
    check_outputs([args.output], [args.input, args.codec], suffixes, "the output")  # before the codec loads
    codec = load_codec(args.codec, bandwidth=args.bandwidth).to(args.device)
    if args.command == "encode":
        wav, _ = read_audio(args.input, sample_rate=codec.sample_rate, channels=codec.channels)  # [C, N]
        try:
            codes = codec.encode(wav)  # [K, T]
        except InvalidAudioError as e:  # NaN samples, shorter than a frame: say which file
            raise InvalidAudioError(f"{args.input}: {e}") from None
        EncodedAudio.from_codec(codec, codes, num_samples=wav.shape[-1], source=str(args.input)).save(args.output)
        print(
            f"{args.output}: {codes.shape[0]} codebooks x {codes.shape[1]} frames at {codec.frame_rate:g} fps "
            f"({codec.codec_id})",
            file=sys.stderr,
        )
    else:
        encoded = EncodedAudio.load(args.input)
        encoded.check_compatible(codec)
        wav = codec.decode(encoded.codes, length=encoded.num_samples)  # [C, N]
        write_audio(args.output, wav.cpu(), codec.sample_rate)
        print(f"{args.output}: {wav.shape[-1] / codec.sample_rate:.2f}s at {codec.sample_rate} Hz", file=sys.stderr)
    return 0


def _sketch(args: argparse.Namespace) -> int:
    from v2meow.media import read_audio, write_audio
    from v2meow.pipelines.bundle import read_bundle
    from v2meow.safety.outputs import check_outputs
    from v2meow.tokenizers.acoustic import load_codec
    from v2meow.tokenizers.semantic import SemanticTokenizer, load_token_frames, sketch

    inputs = [args.input, args.bundle] + ([args.tokenizer] if args.tokenizer else [])
    check_outputs([args.output], inputs, [".wav", ".flac", ".ogg"], "the output")  # before anything loads
    components = read_bundle(args.bundle)["components"]
    tok_dir = args.tokenizer or components["semantic"]
    tok = SemanticTokenizer.from_pretrained(tok_dir).eval()
    table = load_token_frames(tok_dir, tok.vocab_size)
    codec = load_codec(components["codec"]).eval()
    table.check_codec(codec)
    wav, sr = read_audio(args.input, sample_rate=tok.sample_rate, channels=1)  # [1, N]
    out = sketch(tok, table, codec, wav[0], sr)  # [N'] at the codec's rate
    write_audio(args.output, out[None], codec.sample_rate)
    print(
        f"{args.output}: semantic sketch, {out.shape[-1] / codec.sample_rate:.2f}s at {codec.sample_rate} Hz "
        f"({tok.config.backbone} tokens, K={tok.vocab_size}, {tok.frame_rate:g} Hz)",
        file=sys.stderr,
    )
    return 0


def _fit_mel(args: argparse.Namespace) -> int:
    import dataclasses

    from tqdm import tqdm

    from v2meow.errors import ConfigError
    from v2meow.safety.outputs import atomic_directory, check_output_dir
    from v2meow.tokenizers.acoustic import load_codec
    from v2meow.tokenizers.acoustic.vocos import VocosCodec
    from v2meow.training.codebooks import fit_mel_codec

    check_output_dir(args.out, [args.audio] + ([args.source] if args.source else []))
    if args.source:
        codec = load_codec(args.source)
        if not isinstance(codec, VocosCodec):
            raise ConfigError(f"--from {args.source}: not an iSTFT (vocos) codec")
        inversion = args.inversion or codec.config.inversion
    else:
        codec = VocosCodec.from_preset(args.preset, encoder="mel")
        inversion = args.inversion or (codec.config.inversion if codec.config.inversion != "vocoder" else "griffin_lim")
    codec.config = dataclasses.replace(codec.config, inversion=inversion)  # validated again
    with atomic_directory(args.out, overwrite=args.overwrite) as tmp:  # checks --out before the fit
        fit_mel_codec(
            codec,
            args.audio,
            seed=args.seed,
            max_frames=args.max_frames,
            progress=lambda xs: tqdm(xs, desc="fit-mel: reading", unit="file", file=sys.stderr),
        )
        codec.save_pretrained(tmp)
    print(
        f"{args.out}: mel codec, {codec.num_codebooks} x {codec.codebook_size} codes at {codec.frame_rate:g} fps, "
        f"inversion {inversion}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
