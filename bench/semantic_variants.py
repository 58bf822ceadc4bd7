"""One-off study: which feature blocks make 25-Hz k-means tokens predict the codec's first level.

Features of every training clip, held-out clip and judged excerpt are computed once (the
`mel-pitch` backbone's blocks at 50 Hz, the mel codec's own log-mel frames and its level-1 codes)
and cached; each variant then stacks some blocks (per-dim standardised, block b scaled to total
variance `w_b^2 * 64`, or `raw`: the codec's log-mel as it is), fits MiniBatchKMeans (30 passes,
seed 0) on the training clips and reports, on held-out music, `H(L1|S)` (Miller-Madow),
`xent(L1|S)` (see bench/semantic_sketch.py), and the sketch's beat pulse (madmom, median over the
8 excerpts; noisy: +-0.05 between neighbouring variants is within its spread) and chroma similarity.
Slower to trust than bench/semantic_sketch.py (no basic-pitch, its own k-means), quicker to try.

    OMP_NUM_THREADS=1 .venv/bin/python bench/semantic_variants.py --json docs/figures/semantic_variants.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from judges_excerpts import track_excerpts  # noqa: E402
from semantic_sketch import RATE, conditional_entropy, cross_entropy, read_all, split_clips  # noqa: E402
from v2meow import media  # noqa: E402
from v2meow.evaluation import judges  # noqa: E402
from v2meow.evaluation.codec_quality import chroma_similarity  # noqa: E402
from v2meow.tokenizers.acoustic import load_codec  # noqa: E402
from v2meow.tokenizers.semantic import PitchMelBackbone  # noqa: E402

# name: (blocks with weights, K, raw)
VARIANTS = {
    "mel64+delta (as shipped)": ([("mel", 1), ("delta", 1)], 256, False),
    "mel-pitch, all blocks (default weights)": (
        [("mel", 1), ("delta", 0.5), ("chroma", 1), ("salience", 1), ("onset", 0.7)], 256, False),
    "mel-pitch, light pitch weights": (
        [("mel", 1), ("delta", 0.3), ("chroma", 0.6), ("salience", 0.4), ("onset", 0.4)], 256, False),
    "mel64 only": ([("mel", 1)], 256, False),
    "codec mel": ([("cmel", 1)], 256, False),
    "codec mel, raw": ([("cmel", 1)], 256, True),
    "codec mel, both frames stacked": ([("cmel_pair", 1)], 256, False),
    "codec mel + onset .3": ([("cmel", 1), ("onset", 0.3)], 256, False),
    "codec mel + chroma .3": ([("cmel", 1), ("chroma", 0.3)], 256, False),
    "codec mel + chroma .3 + salience .3": ([("cmel", 1), ("chroma", 0.3), ("salience", 0.3)], 256, False),
    "codec mel + chroma .3 + onset .3": ([("cmel", 1), ("chroma", 0.3), ("onset", 0.3)], 256, False),
    "codec mel + chroma .6 + onset .5": ([("cmel", 1), ("chroma", 0.6), ("onset", 0.5)], 256, False),
    "codec mel + half-difference .5 + chroma .6 + onset pair .5": (
        [("cmel", 1), ("cmel_diff", 0.5), ("chroma", 0.6), ("onset_pair", 0.5)], 256, False),
    "codec mel, K=512": ([("cmel", 1)], 512, False),
    "codec mel, K=1024": ([("cmel", 1)], 1024, False),
    "codec mel + chroma .3 + onset .3, K=512": ([("cmel", 1), ("chroma", 0.3), ("onset", 0.3)], 512, False),
}  # fmt: skip


def features(backbone, codec, wav: torch.Tensor):
    """(`[t, 2, D]` backbone blocks, `[t, 2, 128]` codec log-mel, `[2t]` level-1 codes) for 25-Hz tokens."""
    with torch.inference_mode():
        f = backbone(wav[None])[0].numpy()
        cm = codec.encoder(wav[None, None])[0].T.numpy()
        l1 = codec.encode(wav[None], sample_rate=RATE)[0].numpy()
    t = min(len(f) // 2, len(cm) // 2)
    return f[: 2 * t].reshape(t, 2, -1), cm[: 2 * t].reshape(t, 2, -1), l1[: 2 * t]


def block(f, cm, name, slices):
    if name in slices:
        return f[:, :, slices[name]].mean(1)
    return {
        "cmel": lambda: cm.mean(1),
        "cmel_diff": lambda: cm[:, 1] - cm[:, 0],
        "cmel_pair": lambda: cm.reshape(len(cm), -1),
        "onset_pair": lambda: f[:, :, slices["onset"].start],
    }[name]()


def run(variant, train, held, excerpts, codec, slices) -> dict:
    from sklearn.cluster import MiniBatchKMeans

    cfg, k, raw = variant
    tr = [[block(f, cm, n, slices) for n, _ in cfg] for f, cm, _ in train]
    cols = [np.concatenate([c[i] for c in tr]) for i in range(len(cfg))]
    mean = [np.zeros(x.shape[1]) if raw else x.mean(0) for x in cols]
    std = [np.ones(x.shape[1]) if raw else np.maximum(x.std(0), 1e-5) for x in cols]

    def stack(f, cm):
        xs = [block(f, cm, n, slices) for n, _ in cfg]
        return np.concatenate(
            [(x - m) / s * (1 if raw else w * np.sqrt(64 / x.shape[1])) for x, (_, w), m, s in zip(xs, cfg, mean, std)],
            1,
        )

    km = MiniBatchKMeans(k, random_state=0, batch_size=10000, n_init=1, max_iter=30)
    km.fit(np.concatenate([stack(f, cm) for f, cm, _ in train]))

    def pairs(items):
        return np.concatenate([np.stack([np.repeat(km.predict(stack(f, cm)), 2), l1], 1) for f, cm, l1 in items])

    ptr, pte = pairs(train), pairs(held)
    xent, xent_marg = cross_entropy(ptr, pte, k, codec.codebook_size)
    sums, counts = np.zeros((k, 2, 128)), np.zeros(k)
    for f, cm, _ in train:
        s = km.predict(stack(f, cm))
        np.add.at(sums, s, cm)
        np.add.at(counts, s, 1)
    table = sums / np.maximum(counts, 1)[:, None, None]
    beats, chromas = [], []
    for ref, f, cm, _ in excerpts:
        mel = torch.from_numpy(table[km.predict(stack(f, cm))].reshape(-1, 128).T[None]).float()
        with torch.inference_mode():
            y = codec.decode_latent(mel)[0, 0]
        beats.append(judges.beat_pulse(judges.beat_activation(y.numpy(), RATE)))
        r = torch.from_numpy(ref)
        chromas.append(chroma_similarity(r, torch.nn.functional.pad(y, (0, len(r) - len(y))), RATE))
    return {"cfg": cfg, "k": k, "raw": raw, "H_L1_given_S": conditional_entropy(pte, k, codec.codebook_size),
            "xent_L1_given_S": xent, "xent_L1": xent_marg, "sketch_beat_pulse": float(np.median(beats)),
            "sketch_chroma": float(np.mean(chromas))}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--codec", default="checkpoints/demo/codec")
    p.add_argument("--data", default="data/demo")
    p.add_argument("--cache", default="runs/semantic_v4/variant_features.npz")
    p.add_argument("--only", action="append", help="variant name (repeatable; default all)")
    p.add_argument("--json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    data, cache = Path(args.data), Path(args.cache)
    codec = load_codec(args.codec).eval()
    backbone = PitchMelBackbone()
    slices = backbone.block_slices()
    if cache.is_file():
        z = np.load(cache, allow_pickle=True)
        train, held, excerpts = (z[k].tolist() for k in ("train", "held", "excerpts"))
    else:
        train = [features(backbone, codec, w) for w in read_all(split_clips(data, "train"))]
        held = [features(backbone, codec, w) for w in read_all(split_clips(data, "eval"))]
        refs = [media.resample(w.numpy()[None], sr, RATE)[0] for _, w, sr in track_excerpts(data, 8, 12.0)]
        excerpts = [(r, *features(backbone, codec, torch.from_numpy(r))) for r in refs]
        cache.parent.mkdir(parents=True, exist_ok=True)
        obj = {k: np.array(v, dtype=object) for k, v in (("train", train), ("held", held), ("excerpts", excerpts))}
        np.savez(cache, **obj)
    results = {}
    print("| variant | K | H(L1 given S) | xent(L1 given S) | sketch beat | sketch chroma |\n|---|---|---|---|---|---|")
    for name in args.only or list(VARIANTS):
        r = results[name] = run(VARIANTS[name], train, held, excerpts, codec, slices)
        print(f"| {name} | {r['k']} | {r['H_L1_given_S']:.2f} | {r['xent_L1_given_S']:.2f} | "
              f"{r['sketch_beat_pulse']:.3f} | {r['sketch_chroma']:.3f} |", flush=True)  # fmt: skip
    if args.json:
        from common import save_json

        save_json(args.json, {"variants": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
