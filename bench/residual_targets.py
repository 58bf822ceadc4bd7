"""Benchmark: would stage 2 keep more beat if its codes were relative to the semantic token (residual targets)?

Issue 35 lists residual targets (SpeechTokenizer / X-Codec) as a lever: quantize what a semantic token's
average codec frames (its `frames.safetensors`, the lookup) leave over, so that a stage predicting
"no change" would start from the lookup's beat. Before building such a codec, this asks it of models
with no learning at all, on the 8 steady held-out excerpts of `bench/judges_excerpts.py`:

- `residual` coarse codebooks: 3 x 1024 residual k-means of `log-mel - table[token, half]` over the
  training clips (data/demo clips.json, split train); `plain`: the shipped codec's first 3 levels.
- xent: held-out bits per frame of each level given (token, half), counted on the training clips
  (`semantic_sketch.cross_entropy`; all 30 held-out clips), and of its marginal.
- decoded coarse levels, judged (basic-pitch note salience, madmom beat pulse; medians, beat mean):
  `true3` the true codes; `mode` each (token, half)'s most frequent code triple on the training clips
  (what a model that knows only the token would choose greedily); `sample` the triple of a random
  training frame under the same (token, half) (what it would draw), two seeds; and the lookup itself.

    OMP_NUM_THREADS=1 .venv/bin/python bench/residual_targets.py --json docs/figures/residual_targets.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, save_json  # noqa: E402
from judges_excerpts import track_excerpts  # noqa: E402
from semantic_sketch import cross_entropy, read_all, split_clips  # noqa: E402
from v2meow import media  # noqa: E402
from v2meow.evaluation import judges  # noqa: E402
from v2meow.tokenizers.acoustic import load_codec  # noqa: E402
from v2meow.tokenizers.semantic import SemanticTokenizer, load_token_frames  # noqa: E402
from v2meow.tokenizers.semantic.frames import token_frame_pairs  # noqa: E402
from v2meow.training.codebooks import fit_residual_codebooks  # noqa: E402

RATE = 16000
LEVELS = 3


def quantize(books: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Residual nearest-code indices of frames `x [N, M]` -> `[N, L]`."""
    out = []
    for book in books:  # [V, M]
        idx = torch.cdist(x, book).argmin(-1)  # [N]
        x = x - book[idx]
        out.append(idx)
    return torch.stack(out, -1)


def dequantize(books: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    return sum(books[lev][codes[:, lev]] for lev in range(codes.shape[1]))  # [N, M]


class Material:
    """One waveform's (token, half) keys `[N]`, lookup frames, plain and residual coarse codes `[N, L]`."""

    def __init__(self, tok, table, codec, residual_books, wav: torch.Tensor):
        tokens, mel = token_frame_pairs(tok, codec, wav, RATE)  # [T], [T, S, M]
        s, m = mel.shape[1], mel.shape[-1]
        x = mel.reshape(-1, m)  # [N, M]
        self.key = (tokens[:, None] * s + torch.arange(s)).reshape(-1)  # [N] token * S + half
        self.base = table[tokens].reshape(-1, m)  # [N, M]
        self.codes = {
            "plain": quantize(codec.quantizer.codebooks[:LEVELS], x),
            "residual": quantize(residual_books, x - self.base),
        }


def mode_table(keys: torch.Tensor, codes: torch.Tensor, n_keys: int, size: int) -> torch.Tensor:
    """Each key's most frequent code triple `[n_keys, L]` (zeros for unseen keys)."""
    flat = sum(codes[:, lev] * size ** (LEVELS - 1 - lev) for lev in range(LEVELS))  # [N]
    out = torch.zeros(n_keys, LEVELS, dtype=torch.long)
    for k in range(n_keys):
        sel = flat[keys == k]
        if len(sel):
            v = int(torch.mode(sel).values)
            out[k] = torch.tensor([(v // size ** (LEVELS - 1 - lev)) % size for lev in range(LEVELS)])
    return out


def judged(wavs: list[np.ndarray]) -> dict:
    scores = [judges.judge_or_none(w, RATE) for w in wavs]
    out = {k: float(np.median([s[k] for s in scores])) for k in ("note_salience", "beat_pulse")}
    out["beat_pulse_mean"] = float(np.mean([s["beat_pulse"] for s in scores]))
    return out


def run(data: Path, codec_dir: Path, tokenizer_dir: Path, log=print) -> dict:
    start = time.time()
    torch.set_num_threads(1)
    codec = load_codec(codec_dir).eval()
    tok = SemanticTokenizer.from_pretrained(tokenizer_dir).eval()
    table = load_token_frames(tokenizer_dir, tok.vocab_size).frames  # [K, S, M]
    n_keys, size = tok.vocab_size * table.shape[1], codec.codebook_size
    train_wavs = read_all(split_clips(data, "train"))
    pairs = [token_frame_pairs(tok, codec, w, RATE) for w in train_wavs]
    residual = torch.cat([(m - table[t]).reshape(-1, m.shape[-1]) for t, m in pairs]).numpy()  # [N, M]
    books = fit_residual_codebooks(residual, LEVELS, size, max_frames=160_000)  # [L, V, M]
    log(f"residual targets: {len(residual)} training frames, codebooks fitted in {time.time() - start:.0f} s")
    train = [Material(tok, table, codec, books, w) for w in train_wavs]
    held = [Material(tok, table, codec, books, w) for w in read_all(split_clips(data, "eval"))]
    keys = torch.cat([m.key for m in train])  # [N]
    held_keys = torch.cat([m.key for m in held])
    result: dict = {"training_frames": len(residual), "held_out_frames": len(held_keys), "xent_bits": {}}
    codes, modes, all_books = {}, {}, {"plain": codec.quantizer.codebooks[:LEVELS], "residual": books}
    for kind in ("plain", "residual"):
        codes[kind] = torch.cat([m.codes[kind] for m in train])  # [N, L]
        held_codes = torch.cat([m.codes[kind] for m in held])
        for lev in range(LEVELS):
            given, marginal = cross_entropy(
                np.stack([keys.numpy(), codes[kind][:, lev].numpy()], 1),
                np.stack([held_keys.numpy(), held_codes[:, lev].numpy()], 1),
                n_keys,
                size,
            )
            result["xent_bits"][f"{kind} L{lev + 1}"] = {"given_token": given, "marginal": marginal}
        modes[kind] = mode_table(keys, codes[kind], n_keys, size)
    members = [torch.nonzero(keys == k)[:, 0] for k in range(n_keys)]
    excerpts = track_excerpts(data, 8, 12.0)
    decoded: dict[str, list[np.ndarray]] = {}
    for _, w, sr in excerpts:
        ref = torch.from_numpy(media.resample(w.numpy()[None], sr, RATE)[0])
        m = Material(tok, table, codec, books, ref)
        frames = {"lookup": m.base}
        for kind, bk in all_books.items():
            base = m.base if kind == "residual" else 0
            frames[f"{kind} true3"] = base + dequantize(bk, m.codes[kind])
            frames[f"{kind} mode"] = base + dequantize(bk, modes[kind][m.key])
            for seed in (0, 1):
                gen = torch.Generator().manual_seed(seed)
                pick = torch.stack(
                    [members[k][torch.randint(len(members[k]), (1,), generator=gen)][0] if len(members[k]) else
                     torch.tensor(0) for k in m.key.tolist()]
                )  # fmt: skip
                frames[f"{kind} sample, seed {seed}"] = base + dequantize(bk, codes[kind][pick])
        with torch.inference_mode():
            for name, z in frames.items():
                wav = codec.decode_latent(z.T[None].float())[0].mean(0)[: len(ref)].numpy()  # [N]
                decoded.setdefault(name, []).append(wav)
    result["judged"] = {name: judged(wavs) for name, wavs in decoded.items()}
    result["excerpts"] = [c for c, _, _ in excerpts]
    result["seconds"] = round(time.time() - start)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("data/demo"))
    p.add_argument("--codec", type=Path, default=Path("checkpoints/demo/codec"))
    p.add_argument("--tokenizer", type=Path, default=Path("checkpoints/semantic_v4"))
    p.add_argument("--json", help="write the result here")
    args = p.parse_args()
    result = {"machine": machine(), **run(args.data, args.codec, args.tokenizer)}
    for name, v in result["judged"].items():
        print(
            f"{name:28s} notes {v['note_salience']:.3f}  beat {v['beat_pulse']:.3f} (mean {v['beat_pulse_mean']:.3f})"
        )
    for name, v in result["xent_bits"].items():
        print(f"{name:12s} xent given token {v['given_token']:.2f} bits, marginal {v['marginal']:.2f}")
    save_json(args.json, result)


if __name__ == "__main__":
    main()
