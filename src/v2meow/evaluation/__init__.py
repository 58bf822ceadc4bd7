"""Evaluation of generated soundtracks: FAD, KL, MCC, beat alignment, random-shuffle baselines.

    from v2meow.evaluation import EvalConfig, evaluate, write_report
    result = evaluate(EvalConfig(generated="out", reference="data/test"))
    write_report(result, "report")

The building blocks are importable on their own: `fad` (Fréchet distance), `prdc`
(density/coverage), `beats` (onsets, tempo, video beats, alignment scores), `shuffle`
(derangement baselines), `bootstrap` (intervals), `embeddings` (mel / VGGish / CLAP
backbones), `vggish` (the network), `kl` (classifier-based KL), `pairing` (files by
stem, prompts), `analysis` (per-clip features), `metrics` (figures with baselines),
`report` (json / markdown / csv / png).
"""

from v2meow.evaluation.report import write_report
from v2meow.evaluation.runner import EvalConfig, EvalResult, evaluate

__all__ = ["EvalConfig", "EvalResult", "evaluate", "write_report"]
