"""How much the golden outputs move between CPU set-ups: the measurement behind the tolerances of
tests/pipelines/test_golden.py (tests/README.md, "Comparing numbers").

Float kernels are chosen per machine: PyTorch dispatches its vectorised kernels by the CPU's
instruction set (AVX-512 on recent Xeons, AVX2 on AMD EPYC Zen 2/3, `ATEN_CPU_CAPABILITY`), MKL
and oneDNN pick their own code paths (`MKL_ENABLE_INSTRUCTIONS`, `ONEDNN_MAX_CPU_ISA`; MKL takes
its AVX2 path on AMD), and the thread count changes the order of parallel sums. Each set-up below
runs the golden cases in a fresh process (`python tests/pipelines/test_golden.py --dump`) and is
compared with the recorded envelopes: tokens must be identical, and the report gives the largest
envelope deviation, absolute and relative to the case's loudest block.

    python tests/cpu_variants.py             # every set-up, one table (about 15 s each)
    python tests/cpu_variants.py --json F    # and the raw figures to F
    python tests/cpu_variants.py --real      # what a real change moves: Griffin-Lim 63, 65, 48 iterations
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "pipelines" / "test_golden.py"
RECORDED = HERE / "pipelines" / "golden_audio.json"

VARIANTS = {  # name -> environment
    "1 thread": {"OMP_NUM_THREADS": "1"},
    "2 threads": {"OMP_NUM_THREADS": "2"},
    "AVX2 kernels (AMD Zen 2/3)": {
        "OMP_NUM_THREADS": "1",
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    },
    "AVX2 kernels, 2 threads": {
        "OMP_NUM_THREADS": "2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    },
    "baseline kernels (no AVX)": {
        "OMP_NUM_THREADS": "1",
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
    },
}


def _run(env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "got.json"
        subprocess.run(
            [sys.executable, str(GOLDEN), "--dump", str(out)], env={**os.environ, **env}, check=True, cwd=HERE.parent
        )
        return json.loads(out.read_text())


def compare(got: dict, golden_tokens: dict, recorded: dict) -> dict:
    """Per case: tokens equal to the golden hashes, largest absolute and relative envelope deviation."""
    rows = {}
    for case, g in got.items():
        env, want = g["envelope"], recorded[case]
        dev = max(abs(a - b) for a, b in zip(env, want))
        rows[case] = {
            "tokens_equal": tuple(g["tokens"]) == tuple(golden_tokens[case]),
            "max_abs": dev,
            "max_rel_to_loudest": dev / max(want),
            "max_rel_per_block": max(abs(a - b) / b for a, b in zip(env, want)),
        }
    return rows


def real_changes(iterations=(63, 65, 48)) -> dict:
    """In this process: how far the envelopes move when the codec's Griffin-Lim runs `iterations`
    instead of the bundle's (a change the golden test must still catch)."""
    import torch
    from test_golden import AUDIO, CASES, _envelope, _generate, _load_demo

    torch.set_num_threads(1)
    pipe, features = _load_demo()
    recorded = json.loads(AUDIO.read_text())
    rows = {}
    for n in iterations:
        pipe.codec.config.griffin_lim_iters = n
        for case in CASES:
            out = _generate(pipe, features, case)
            got, want = _envelope(out.audio, out.sample_rate), torch.tensor(recorded[case])
            rows[f"{n} iterations, {case}"] = float(((got - want).abs() / want).max())
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, help="write the raw figures here too")
    p.add_argument("--real", action="store_true", help="measure real changes (Griffin-Lim iterations) instead")
    args = p.parse_args()
    sys.path.insert(0, str(GOLDEN.parent))
    if args.real:
        for name, move in real_changes().items():
            print(f"{name:28s} largest block move {move:.2e}")
        return 0
    from test_golden import GOLDEN as golden_tokens

    recorded = json.loads(RECORDED.read_text())
    print(f"machine: {platform.processor() or platform.machine()} ({_cpu_model()})")
    report = {}
    for name, env in VARIANTS.items():
        report[name] = rows = compare(_run(env), golden_tokens, recorded)
        for case, r in rows.items():
            print(
                f"{name:28s} {case:14s} tokens {'same' if r['tokens_equal'] else 'DIFFER'}  "
                f"max |d| {r['max_abs']:.2e}  / loudest {r['max_rel_to_loudest']:.2e}  "
                f"per block {r['max_rel_per_block']:.2e}"
            )
    if args.json:
        args.json.write_text(json.dumps({"cpu": _cpu_model(), "variants": report}, indent=1) + "\n")
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
