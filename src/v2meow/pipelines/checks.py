"""Fail early when the components of a pipeline disagree, naming the one that does.

The check is read from data, not written per stage: every stream a stage declares it reads
(`StageConfig.streams()`) is compared with what the chain hands it under that name (what the roles
before it write, `stages.roles`, and what generation computes from the video and the words: the
features, the style and the condition channels of `features.channels`), and
what a codec role writes is compared with the codec. A stage kind with new streams is checked with
no change here; a stream that nothing computes is named.
"""

from __future__ import annotations

from dataclasses import dataclass

from v2meow.errors import ConfigError
from v2meow.features.channels import CHANNELS
from v2meow.stages.roles import ROLE, ROLE_SPECS


class IncompatibleComponentsError(ConfigError):
    """Two components of a bundle disagree (vocabulary, rate, codebooks, dims)."""


@dataclass(frozen=True)
class Provided:
    """A stream the chain can hand a stage: its size (feature width, vocabulary or codebook size;
    None: not checked) and its rate (frames per second; None: not a time series), each with the
    name a message shows for it."""

    size_name: str
    size: int | None
    rate_name: str = ""
    rate: float | None = None


#: Streams generation computes only when some component asks for them (`V2MeowPipeline.video_sources`):
#: a stage reading one of them is not an error by itself (style without a style embedder is left out).
OPTIONAL = ("style", "long_term")


def _same(a_name: str, a, b_name: str, b) -> list[str]:
    if isinstance(a, float) or isinstance(b, float):
        equal = abs(float(a) - float(b)) < 1e-6
    else:
        equal = a == b
    return [] if equal else [f"{a_name}={a} but {b_name}={b}"]


def provided_streams(extractor, stages: dict, codec, style) -> dict[str, Provided]:
    """Every stream the chain can hand a stage, by name: the video's, the words', and each role's output."""
    first = ROLE_SPECS[0]
    rate = float(getattr(stages[first.name].config, first.rate_field))
    out = {"visual": Provided("features.dim", extractor.dim)}
    for name, ch in CHANNELS.items():  # condition channels (`features.channels`), made at the semantic rate
        out[name] = Provided(f"{name} channel size", ch.size, f"{first.key}.{first.rate_field}", rate)
    if style is not None:
        out["style"] = Provided("style.dim", style.dim)
    for r in ROLE_SPECS:
        c = stages[r.name].config
        if r.levels_field is None:  # tokens of its own vocabulary
            out[r.name] = Provided(
                f"{r.key}.semantic_vocab", c.semantic_vocab, f"{r.key}.{r.rate_field}", float(getattr(c, r.rate_field))
            )
        else:  # codes of the codec (what the role writes is checked against it too)
            out[r.name] = Provided(
                "codec.codebook_size", codec.codebook_size, "codec.frame_rate", float(codec.frame_rate)
            )
    return out


def _stream_problems(r, stage, provided: dict[str, Provided]) -> list[str]:
    """What the stage of role `r` reads against what the chain hands it."""
    bad: list[str] = []
    c = stage.config
    earlier = [n for n in provided if n not in ROLE or ROLE[n].number < r.number]
    for st in stage.streams:
        have = provided.get(st.name) if st.name in earlier else None
        if have is None:
            if st.name not in OPTIONAL:
                bad.append(
                    f"{r.key} reads a condition '{st.name}' that generation does not compute "
                    f"(it computes: {', '.join(earlier)})"
                )
            continue
        if st.name == "visual" and hasattr(c, "feature_dim"):  # an embedded visual stream is the stage's own width
            bad += _same(have.size_name, have.size, f"{r.key}.feature_dim", c.feature_dim)
        elif st.kind != "embedded":
            bad += _same(have.size_name, have.size, f"{r.key}.{st.name} size", st.size)
        if have.rate is not None and st.rate:
            bad += _same(have.rate_name, have.rate, f"{r.key}.{st.name} rate", st.rate)
    return bad


def check_components(extractor, stages: dict, codec, style=None, semantic_info: dict | None = None) -> None:
    """Raise `IncompatibleComponentsError` listing every disagreement between components.

    `stages`: the stages by role (`stages.roles.ROLES`); `semantic_info`: the semantic tokenizer's config."""
    provided = provided_streams(extractor, stages, codec, style)
    bad: list[str] = []
    for r in ROLE_SPECS:
        c = stages[r.name].config
        bad += _stream_problems(r, stages[r.name], provided)
        if r.levels_field is not None:  # it writes codes of the codec
            bad += _same("codec.codebook_size", codec.codebook_size, f"{r.key}.codebook_size", c.codebook_size)
            bad += _same(
                "codec.frame_rate", float(codec.frame_rate), f"{r.key}.{r.rate_field}", getattr(c, r.rate_field)
            )
    coarse, fine = ROLE["coarse"], ROLE["fine"]
    cc, fc = stages[coarse.name].config, stages[fine.name].config
    bad += _same("codec.num_coarse", codec.num_coarse, f"{coarse.key}.num_coarse", cc.num_coarse)
    bad += _same(f"{coarse.key}.num_coarse", cc.num_coarse, f"{fine.key}.num_coarse", fc.num_coarse)
    bad += _same("codec.num_codebooks", codec.num_codebooks, f"{fine.key} coarse + fine", fc.num_coarse + fc.num_fine)
    if semantic_info is not None:
        first = ROLE_SPECS[0]
        c1 = stages[first.name].config
        vocab = semantic_info.get("vocab_size", semantic_info.get("k", semantic_info.get("num_clusters")))
        rate = semantic_info.get("frame_rate")
        if vocab is not None:
            bad += _same("semantic.vocab_size", vocab, f"{first.key}.semantic_vocab", c1.semantic_vocab)
        if rate is not None:
            bad += _same("semantic.frame_rate", float(rate), f"{first.key}.{first.rate_field}", c1.semantic_rate)
    if bad:
        raise IncompatibleComponentsError("bundle components disagree: " + "; ".join(dict.fromkeys(bad)))
