"""One generic step of the chain: any role's stage over windows, fed by name from the streams at hand.

    sources = {"visual": Source(feats, rate=10.0), "rhythm": Source(pulses, rate=25.0)}
    semantic = run_role(pipe, "semantic", sources, duration, generation=gen, generator=g)   # [S, T_s]
    coarse = run_role(pipe, "coarse", {"semantic": Source(semantic, rate=25.0)}, ...)        # [S, N_c, T_a]

A stage declares what it reads (`stage.streams`); each window hands it every declared stream that
is at hand, cut to the window's span at that stream's own rate (`Source.cut`), plus any whole-piece
values (`whole`: e.g. a long-term stage 1's whole video). A declared time stream that is not at
hand is a `ConfigError` naming it (a style vector may be absent: the stage then reads its null).
The role's output rate, shape, context and progress label come from `stages/roles.py`.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from v2meow.errors import ConfigError
from v2meow.pipelines.windows import Window, fill_windows
from v2meow.stages.conditions import Condition
from v2meow.stages.roles import ROLE
from v2meow.stages.sampling import DecodeOptions


@dataclasses.dataclass(frozen=True)
class Source:
    """One stream the chain can hand a stage: `value` `[S, T, ...]` with time on `axis` at `rate`
    frames per second (cut to each window), or with `rate` None a whole-piece value (a style vector)."""

    value: torch.Tensor
    rate: float | None = None
    axis: int = 1

    def cut(self, w: Window) -> Condition:
        """This stream over window `w` (its own frames of the window's seconds)."""
        if self.rate is None:
            return Condition(self.value)
        s, e, _ = w.frames(self.rate, self.value.shape[self.axis])
        return Condition(self.value.narrow(self.axis, s, e - s), rate=self.rate)


def run_role(
    pipe, role: str, sources: dict[str, Source], duration: float, *, generation, generator=None, keep=None,
    whole: dict[str, torch.Tensor] | None = None, samples: int,
) -> torch.Tensor:  # fmt: skip
    """The stage of `role` over windows covering `duration` -> `[S, T]` tokens or `[S, K, T]` codes at the
    role's rate; `keep`: an edit's kept frames (`windows.fill_windows`)."""
    spec, stage = ROLE[role], pipe.stages[role]
    c, gen = stage.config, generation
    missing = [s.name for s in stage.streams if s.name not in sources and s.kind != "vector"]
    if missing:
        raise ConfigError(
            f"this bundle's {spec.label} ({role}) reads '{missing[0]}', which this generation does not have"
        )
    reads = [(s.name, sources[s.name]) for s in stage.streams if s.name in sources]
    rate = getattr(c, spec.rate_field)
    total = math.ceil(duration * rate - 1e-6)
    levels = () if spec.levels_field is None else (getattr(c, spec.levels_field),)
    out = torch.zeros(samples, *levels, total, dtype=torch.long, device=pipe.device)  # [S, (K,) T]
    fixed_whole = {name: Condition(value) for name, value in (whole or {}).items()}

    def step(w, span, prompt, bar, fixed):
        conditions = {name: src.cut(w) for name, src in reads} | fixed_whole
        return stage.generate(
            conditions=conditions,
            length=span[1] - span[0],
            prompt=prompt,
            sampling=gen.sampling[role],
            options=DecodeOptions(generator=generator, progress=bar, cuda_graph=gen.cuda_graphs),
            fixed=fixed,
        )

    rates = [rate] + [src.rate for _, src in reads if src.rate is not None]
    with pipe.progress_bar(out.shape[-1] * math.prod(out.shape[1:-1]), spec.label) as bar:
        return fill_windows(out, rate, duration, c.window_seconds, gen.context_seconds[role], rates, bar, step, keep)


def run_chain(
    pipe, sources: dict[str, Source], duration: float, *, generation, generator=None, samples: int,
    start: str = "semantic", whole: dict[str, dict[str, torch.Tensor]] | None = None,
    keep: dict | None = None, timings: dict[str, float] | None = None,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """Every role from `start` on, in order (`stages/roles.py`): each stage reads `sources` and what the
    roles before it wrote -> {role: tokens or codes}. Generation starts at "semantic"; resynthesis from
    music starts at "coarse" with the music's own semantic tokens among `sources`. `whole` and `keep`
    are by role (`run_role`); `timings` gets each stage's seconds by its component name (`Role.key`)."""
    import time

    out: dict[str, torch.Tensor] = {}
    for role in list(ROLE)[list(ROLE).index(start) :]:
        t = time.perf_counter()
        spec = ROLE[role]
        out[role] = run_role(pipe, role, sources, duration, generation=generation, generator=generator,
                             keep=(keep or {}).get(role), whole=(whole or {}).get(role), samples=samples)  # fmt: skip
        rate = getattr(pipe.stages[role].config, spec.rate_field)
        sources = {**sources, role: Source(out[role], rate, axis=out[role].dim() - 1)}  # [S, T] or [S, K, T]
        if timings is not None:
            timings[spec.key] = time.perf_counter() - t
    return out
