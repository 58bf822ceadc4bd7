"""`v2meow-codec encode|decode`: audio <-> acoustic codes files, for inspection and debugging."""

from __future__ import annotations

import argparse
import sys

from v2meow.cli.common import run

DESCRIPTION = """\
encode IN OUT.safetensors --codec DIR   audio file (any format, rate, channels) -> codes
decode IN.safetensors OUT.wav --codec DIR   codes -> audio at the codec's rate, trimmed
                                            to the encoded length

--codec is a codec component directory (SoundStream or EnCodec, see v2meow-export), a
transformers EnCodec directory, or facebook/encodec_24khz from the local HF cache. The
codes file holds tensor `codes` [K, T] and the codec's contract (sample_rate, frame_rate,
codebook_size, num_samples, codec id) as metadata. Outputs are written atomically.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="v2meow-codec", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, src, dst in (("encode", "input audio file", "output .safetensors"), ("decode", "input .safetensors", "output audio (.wav, .flac, .ogg)")):
        s = sub.add_parser(name, help=f"{src} -> {dst}")
        s.add_argument("input", help=src)
        s.add_argument("output", help=dst)
        s.add_argument("--codec", required=True, help="codec directory or facebook/encodec_24khz")
        s.add_argument("--bandwidth", type=float, help="EnCodec only: kbps (1.5, 3, 6, 12, 24)")
        s.add_argument("--device", default="cpu", help="cpu or cuda")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run("v2meow-codec", lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    from v2meow.io import check_outputs
    from v2meow.media import read_audio, write_audio
    from v2meow.tokenizers.acoustic import EncodedAudio, load_codec

    suffixes = [".safetensors"] if args.command == "encode" else [".wav", ".flac", ".ogg"]
    check_outputs([args.output], [args.input, args.codec], suffixes, "the output")  # before the codec loads
    codec = load_codec(args.codec, bandwidth=args.bandwidth).to(args.device)
    if args.command == "encode":
        wav, _ = read_audio(args.input, sample_rate=codec.sample_rate, channels=codec.channels)  # [C, N]
        codes = codec.encode(wav)  # [K, T]
        EncodedAudio.from_codec(codec, codes, num_samples=wav.shape[-1], source=str(args.input)).save(args.output)
        print(f"{args.output}: {codes.shape[0]} codebooks x {codes.shape[1]} frames at {codec.frame_rate:g} fps "
              f"({codec.codec_id})", file=sys.stderr)  # fmt: skip
    else:
        encoded = EncodedAudio.load(args.input)
        encoded.check_compatible(codec)
        wav = codec.decode(encoded.codes, length=encoded.num_samples)  # [C, N]
        write_audio(args.output, wav.cpu(), codec.sample_rate)
        print(f"{args.output}: {wav.shape[-1] / codec.sample_rate:.2f}s at {codec.sample_rate} Hz", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
