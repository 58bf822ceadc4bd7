"""Golden outputs: the shipped demo bundle and tiny seeded stages give exactly the tokens and audio
they gave before the stage interface was unified (issue 26). A refactor of the stages, their
registry or the generation settings must leave every hash below unchanged.

The hashes were recorded from the code before that refactor, on CPU with one thread; the audio
hashes once more when the codec's mel filterbank became the shared `signal.dsp.mel_filterbank`
(its filters moved by up to 4e-6, the tokens did not), and all of them once more for the demo
bundle v3 (new stages and codec; issue 27), and the tokens of the cases that keep the bundle's
rhythm guidance once more when its default went from 3 to 8.

Tokens are compared bit for bit. Audio is compared before loudness normalisation (`loudness="none"`)
by its loudness envelope (RMS of 0.1-s blocks), each block within a relative 2e-3 (RTOL), not bit
for bit: Griffin-Lim's 64 iterations turn the last-bit differences between CPUs' FFT and matmul
kernels into sample-level differences. `python tests/cpu_variants.py` measures them: with PyTorch,
MKL and oneDNN held to AVX2 (the path AMD EPYC Zen 2/3 takes) a block moves by up to 1.6e-4, with
no AVX at all by up to 5.7e-4, and 1 or 2 threads give the same envelopes (tests/README.md, "Comparing
numbers"); the tokens stayed identical in every set-up. A real change is larger (`python tests/cpu_variants.py
--real`): one Griffin-Lim iteration more or less moves a block of each case by 1.6e-3 to 5e-3 (so at
least two of the four cases fail), 48 iterations instead of 64 by 2e-2 to 6e-2. `python tests/pipelines/test_golden.py` re-records the envelopes (golden_audio.json).
"""

import hashlib
import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import stagegen

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "checkpoints" / "demo"
VIDEO = ROOT / "examples" / "demo.mp4"
SECONDS = 5.0
AUDIO = Path(__file__).with_name("golden_audio.json")  # case -> loudness envelope of the audio
BLOCK = 0.1  # seconds per envelope value
RTOL = 2e-3  # per envelope block: 3.5x the largest move measured across CPU set-ups (docstring)


def _sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


@pytest.fixture(scope="module")
def demo():
    if not (BUNDLE / "pipeline.json").exists() or not VIDEO.exists():
        pytest.skip("no demo bundle or example video")
    return _load_demo()


def _load_demo():
    from v2meow.features.base import Features
    from v2meow.pipelines import V2MeowPipeline

    pipe = V2MeowPipeline.from_pretrained(BUNDLE)
    full = pipe.extract_features(VIDEO)
    n = round(SECONDS * full.rate)
    cut = Features(full.features[:n].clone(), full.rate, list(full.extractor_ids), list(full.dims), SECONDS)
    return pipe, cut


CASES = {
    "plain": {},
    "text_cfg3_two": dict(text="fast orchestral fantasy", cfg=(3.0, 1.0, 1.0), num_samples=2),
    "topk_topp": dict(top_k=(20, 8, 4), top_p=(0.9, 0.8, 1.0), seed=7),
    "cfg_rhythm": dict(
        guidance={"semantic": {"rhythm": 2.0}}
    ),  # by role (the cfg case above: CLI-style per-stage values; the bundle's default is 3)
}

GOLDEN = {  # sha256[:16] of semantic, coarse, fine
    "plain": ("d595ef3b047c6d73", "2f1e019988d23333", "c52e04703050c271"),
    "text_cfg3_two": ("2a9ecc2af50a3c22", "9f4e997a33bb9040", "fd361c10b4943219"),
    "topk_topp": ("6b28767b9b9501b2", "3a44005d2896b4cc", "41c45fc369ad54f6"),
    "cfg_rhythm": ("db91a41a8bf7646e", "a215d860d178ab55", "0c6a96d1c089a4e4"),
}


def _envelope(audio: torch.Tensor, rate: int) -> torch.Tensor:
    """`[B, C, N]` -> `[B * C * (N // block)]`: RMS of each 0.1-s block."""
    block = round(BLOCK * rate)
    a = audio.reshape(-1, audio.shape[-1])  # [B * C, N]
    a = a[:, : a.shape[-1] // block * block].reshape(a.shape[0], -1, block)  # [B * C, N // block, block]
    return a.pow(2).mean(-1).sqrt().flatten()


def _generate(pipe, features, case: str):
    kw = dict(CASES[case])
    text = kw.pop("text", None)
    with torch.random.fork_rng():
        return pipe(features, text=text, loudness="none", **kw)


@pytest.mark.parametrize("case", list(CASES))
def test_demo_bundle_outputs_are_unchanged(demo, case):
    pipe, features = demo
    out = _generate(pipe, features, case)
    assert (_sha(out.semantic), _sha(out.coarse), _sha(out.fine)) == GOLDEN[case]  # the tokens, bit for bit
    got = _envelope(out.audio, out.sample_rate)
    want = torch.tensor(json.loads(AUDIO.read_text())[case])
    assert got.shape == want.shape
    assert torch.allclose(got, want, rtol=RTOL, atol=1e-6), ((got - want).abs() / want).max()


def _tiny_outputs() -> dict[str, str]:
    """Seeded random-init stages with the options the demo bundle does not use (encdec stage 2,
    aligned coarse stage 3, long-term stage 1, guidance by name), one window each."""
    from v2meow.stages.conditions import Condition
    from v2meow.stages.sampling import DecodeOptions, SamplingConfig, make_generator

    out = {}
    torch.manual_seed(0)
    s1 = stagegen.stage1(long_term=True).eval()
    s2 = stagegen.stage2("encdec", aligned_semantic=True).eval()
    s3 = stagegen.stage3(aligned_coarse=True).eval()
    feats = torch.randn(2, 10, stagegen.FDIM)  # [B, T_v, D] at FRATE (2 s)
    style = torch.randn(2, 6)

    def opts():
        return DecodeOptions(generator=make_generator(3))

    visual = Condition(feats, rate=stagegen.FRATE)
    sem = s1.generate(
        conditions={"visual": visual, "style": Condition(style)},
        length=20,
        sampling=SamplingConfig(temperature=1.0, guidance={"all": 2.0}),
        options=opts(),
    )
    out["stage1"] = _sha(sem)
    coarse = s2.generate(
        conditions={"semantic": Condition(sem), "visual": visual},
        length=40,
        sampling=SamplingConfig(temperature=0.9, top_k=5, guidance={"visual": 2.5}),
        options=opts(),
    )
    out["stage2"] = _sha(coarse)
    fine = s3.generate(
        conditions={"coarse": Condition(coarse[:, :, :20])},
        length=20,
        sampling=SamplingConfig(temperature=0.5, top_p=0.9),
        options=opts(),
    )
    out["stage3"] = _sha(fine)
    return out


TINY = {"stage1": "85909dc9b000da18", "stage2": "afc8aff9e9e3827c", "stage3": "4913b90f4fe895cc"}


def test_tiny_stage_options_outputs_are_unchanged():
    got = _tiny_outputs()
    assert got == TINY


def measure(path: Path | None = None) -> dict:
    """Tokens (hashes) and loudness envelopes of every case, in this process's CPU set-up; written to
    `path` as JSON when given (tests/cpu_variants.py compares them across set-ups)."""
    pipe, features = _load_demo()
    got = {}
    for case in CASES:
        out = _generate(pipe, features, case)
        got[case] = {
            "tokens": [_sha(out.semantic), _sha(out.coarse), _sha(out.fine)],
            "envelope": _envelope(out.audio, out.sample_rate).tolist(),
        }
    if path is not None:
        path.write_text(json.dumps(got))
    return got


if __name__ == "__main__":
    # `--dump FILE`: write what this set-up gives (tests/cpu_variants.py); no argument: re-record
    # golden_audio.json (only after a deliberate change to the bundle or codec)
    if len(sys.argv) == 3 and sys.argv[1] == "--dump":
        measure(Path(sys.argv[2]))
        sys.exit(0)
    torch.set_num_threads(1)
    got = measure()
    envelopes = {case: [float(f"{v:.6g}") for v in g["envelope"]] for case, g in got.items()}
    AUDIO.write_text("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in envelopes.items()) + "\n}\n")
    print(f"wrote {AUDIO}")
