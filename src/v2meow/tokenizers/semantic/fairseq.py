"""fairseq HuBERT checkpoints -> transformers `HubertModel` directories, without importing fairseq.

fairseq cannot be installed on Python 3.11+, but its HuBERT state
dicts map one to one onto transformers' HuBERT. The architecture comes from the
checkpoint's `cfg["model"]` (or legacy `args`), cross-checked against tensor shapes;
without a config it is inferred from the shapes (heads = dim / 64, fairseq's default
strides), and the guesses are reported. Pre-training heads (`final_proj`,
`label_embs_concat`) are dropped; any other unmapped key is an error, never a silent drop.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import torch

from v2meow.errors import ConfigError

_DEFAULT_CONV = "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2"
_G, _V = "<weight_g>", "<weight_v>"  # the pos-conv weight norm; target names depend on torch/transformers
_RULES = [
    (r"feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)", r"feature_extractor.conv_layers.\1.conv.\2"),
    (r"feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)", r"feature_extractor.conv_layers.\1.layer_norm.\2"),
    (r"feature_extractor\.conv_layers\.(\d+)\.2\.(weight|bias)", r"feature_extractor.conv_layers.\1.layer_norm.\2"),
    (r"post_extract_proj\.(weight|bias)", r"feature_projection.projection.\1"),
    (r"layer_norm\.(weight|bias)", r"feature_projection.layer_norm.\1"),
    (r"mask_emb", "masked_spec_embed"),
    (r"encoder\.pos_conv\.0\.bias", "encoder.pos_conv_embed.conv.bias"),
    (r"encoder\.pos_conv\.0\.(?:weight_g|parametrizations\.weight\.original0)", _G),
    (r"encoder\.pos_conv\.0\.(?:weight_v|parametrizations\.weight\.original1)", _V),
    (r"encoder\.layer_norm\.(weight|bias)", r"encoder.layer_norm.\1"),
    (r"encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(weight|bias)", r"encoder.layers.\1.attention.\2_proj.\3"),
    (r"encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)", r"encoder.layers.\1.layer_norm.\2"),
    (r"encoder\.layers\.(\d+)\.fc1\.(weight|bias)", r"encoder.layers.\1.feed_forward.intermediate_dense.\2"),
    (r"encoder\.layers\.(\d+)\.fc2\.(weight|bias)", r"encoder.layers.\1.feed_forward.output_dense.\2"),
    (r"encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)", r"encoder.layers.\1.final_layer_norm.\2"),
]
_DROPPED = re.compile(r"(final_proj|label_embs_concat|label_embs)(\..+)?")
_PREFIXES = ("w2v_encoder.w2v_model.", "model.")  # fine-tuned (HubertCtc) and wrapped checkpoints


def parse_conv_layers(spec: str) -> list[tuple[int, int, int]]:
    """Parse fairseq's `conv_feature_layers` string, e.g. "[(512,10,5)] + [(512,3,2)] * 4", without eval.

    Only list/tuple literals of ints, `+` and `*` are accepted.
    """

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            a, b = ev(node.left), ev(node.right)
            return a + b if isinstance(node.op, ast.Add) else a * b
        raise ConfigError(f"conv_feature_layers: unsupported expression {ast.dump(node)[:80]}")

    try:
        layers = ev(ast.parse(str(spec), mode="eval"))
    except SyntaxError:
        raise ConfigError(f"conv_feature_layers: not a list expression: {spec!r}") from None
    if not isinstance(layers, list) or not all(isinstance(t, tuple) and len(t) == 3 for t in layers):
        raise ConfigError(f"conv_feature_layers: expected a list of (dim, kernel, stride), got {spec!r}")
    return [tuple(int(v) for v in t) for t in layers]


def strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in _PREFIXES:
        if any(k.startswith(prefix + "feature_extractor.") for k in state):
            return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


def hubert_config_from_fairseq(model_cfg: dict[str, Any] | None, state: dict[str, torch.Tensor]):
    """A `HubertConfig` for a fairseq HuBERT state dict; returns `(config, notes)`.

    `model_cfg` is the checkpoint's `cfg["model"]` (or `vars(args)`); tensor shapes win
    where they say more, and a disagreement is a `ConfigError`.
    """
    from transformers import HubertConfig

    cfg = dict(model_cfg or {})
    notes: list[str] = []
    convs = sorted(
        int(m.group(1)) for k in state if (m := re.fullmatch(r"feature_extractor\.conv_layers\.(\d+)\.0\.weight", k))
    )
    layers = {int(m.group(1)) for k in state if (m := re.fullmatch(r"encoder\.layers\.(\d+)\..*", k))}
    if not convs or not layers or "encoder.layer_norm.weight" not in state:
        raise ConfigError("not a fairseq HuBERT state dict (no feature_extractor.conv_layers / encoder.layers keys)")
    conv_w = [state[f"feature_extractor.conv_layers.{i}.0.weight"] for i in convs]  # [C_out, C_in, K] each
    hidden = state["encoder.layer_norm.weight"].shape[0]
    v_key = next(
        k for k in state if re.fullmatch(r"encoder\.pos_conv\.0\.(weight_v|parametrizations\.weight\.original1)", k)
    )
    pos_v = state[v_key]  # [D, D / groups, K]
    if "conv_feature_layers" in cfg:
        spec = parse_conv_layers(cfg["conv_feature_layers"])
    else:
        default = parse_conv_layers(_DEFAULT_CONV)
        if [w.shape[2] for w in conv_w] != [k for _, k, _ in default]:
            raise ConfigError(
                "cannot infer the conv strides: the checkpoint has no conv_feature_layers and non-default kernels"
            )
        spec = [(w.shape[0], k, s) for w, (_, k, s) in zip(conv_w, default)]
        notes.append(
            "no conv_feature_layers in the checkpoint config: assumed fairseq's default strides (5,2,2,2,2,2,2)"
        )
    if [(w.shape[0], w.shape[2]) for w in conv_w] != [(d, k) for d, k, _ in spec]:
        raise ConfigError(
            f"conv layers in the weights {[tuple(w.shape) for w in conv_w]} disagree with the config {spec}"
        )
    layer_norm_convs = "feature_extractor.conv_layers.0.2.1.weight" in state
    mode = cfg.get("extractor_mode", "layer_norm" if layer_norm_convs else "default")
    if (mode == "layer_norm") != layer_norm_convs:
        raise ConfigError(f"extractor_mode {mode!r} disagrees with the conv norm weights in the state dict")
    heads = int(cfg.get("encoder_attention_heads", max(1, hidden // 64)))
    if "encoder_attention_heads" not in cfg:
        notes.append(f"no encoder_attention_heads in the checkpoint config: assumed {heads} (64-d heads)")
    if "layer_norm_first" not in cfg:
        notes.append(f"no layer_norm_first in the checkpoint config: assumed {layer_norm_convs} (as HuBERT Large)")
    for key, value in (("encoder_embed_dim", hidden), ("encoder_layers", max(layers) + 1)):
        if key in cfg and int(cfg[key]) != value:
            raise ConfigError(f"checkpoint config {key}={cfg[key]} but the weights say {value}")
    config = HubertConfig(
        hidden_size=hidden,
        num_hidden_layers=max(layers) + 1,
        num_attention_heads=heads,
        intermediate_size=state["encoder.layers.0.fc1.weight"].shape[0],
        hidden_act=str(cfg.get("activation_fn", "gelu")),
        feat_extract_norm="layer" if layer_norm_convs else "group",
        feat_extract_activation="gelu",
        conv_dim=[d for d, _, _ in spec],
        conv_kernel=[k for _, k, _ in spec],
        conv_stride=[s for _, _, s in spec],
        conv_bias="feature_extractor.conv_layers.0.0.bias" in state,
        num_conv_pos_embeddings=pos_v.shape[2],
        num_conv_pos_embedding_groups=hidden // pos_v.shape[1],
        do_stable_layer_norm=bool(cfg.get("layer_norm_first", layer_norm_convs)),
        feat_proj_layer_norm=True,
        layer_norm_eps=1e-5,
    )
    return config, notes


def map_fairseq_state(
    state: dict[str, torch.Tensor], target_keys: list[str]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename fairseq HuBERT keys to transformers' `HubertModel` keys; returns `(state, dropped keys)`.

    Raises:
        ConfigError: a key that is neither mapped nor a known pre-training head.
    """
    g_key = next(
        k for k in target_keys if k.startswith("encoder.pos_conv_embed.conv.") and k.endswith(("original0", "weight_g"))
    )
    v_key = next(
        k for k in target_keys if k.startswith("encoder.pos_conv_embed.conv.") and k.endswith(("original1", "weight_v"))
    )
    out, dropped, unknown = {}, [], []
    for key, value in state.items():
        for pattern, repl in _RULES:
            if re.fullmatch(pattern, key):
                new = {_G: g_key, _V: v_key}.get(repl) or re.sub(pattern, repl, key)
                out[new] = value
                break
        else:
            (dropped if _DROPPED.fullmatch(key) else unknown).append(key)
    if unknown:
        raise ConfigError(f"unmapped fairseq keys: {', '.join(unknown[:5])}" + (" ..." if len(unknown) > 5 else ""))
    if "feature_projection.projection.weight" not in out:  # fairseq skips the projection when dims agree
        dim = out["encoder.layer_norm.weight"].shape[0]
        out["feature_projection.projection.weight"] = torch.eye(dim)
        out["feature_projection.projection.bias"] = torch.zeros(dim)
    return out, dropped


def hubert_to_fairseq(model) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The inverse mapping, transformers `HubertModel` -> fairseq `(state dict, cfg["model"])` (for tests/export)."""
    cfg = model.config
    inverse = [
        (r"feature_extractor\.conv_layers\.(\d+)\.conv\.(weight|bias)", r"feature_extractor.conv_layers.\1.0.\2"),
        (
            r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(weight|bias)",
            r"feature_extractor.conv_layers.\1.2.1.\2"
            if cfg.feat_extract_norm == "layer"
            else r"feature_extractor.conv_layers.\1.2.\2",
        ),
        (r"feature_projection\.projection\.(weight|bias)", r"post_extract_proj.\1"),
        (r"feature_projection\.layer_norm\.(weight|bias)", r"layer_norm.\1"),
        (r"masked_spec_embed", "mask_emb"),
        (r"encoder\.pos_conv_embed\.conv\.bias", "encoder.pos_conv.0.bias"),
        (
            r"encoder\.pos_conv_embed\.conv\.(?:parametrizations\.weight\.original0|weight_g)",
            "encoder.pos_conv.0.weight_g",
        ),
        (
            r"encoder\.pos_conv_embed\.conv\.(?:parametrizations\.weight\.original1|weight_v)",
            "encoder.pos_conv.0.weight_v",
        ),
        (r"encoder\.layer_norm\.(weight|bias)", r"encoder.layer_norm.\1"),
        (
            r"encoder\.layers\.(\d+)\.attention\.(q|k|v|out)_proj\.(weight|bias)",
            r"encoder.layers.\1.self_attn.\2_proj.\3",
        ),
        (r"encoder\.layers\.(\d+)\.layer_norm\.(weight|bias)", r"encoder.layers.\1.self_attn_layer_norm.\2"),
        (r"encoder\.layers\.(\d+)\.feed_forward\.intermediate_dense\.(weight|bias)", r"encoder.layers.\1.fc1.\2"),
        (r"encoder\.layers\.(\d+)\.feed_forward\.output_dense\.(weight|bias)", r"encoder.layers.\1.fc2.\2"),
        (r"encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)", r"encoder.layers.\1.final_layer_norm.\2"),
    ]
    state = {}
    for key, value in model.state_dict().items():
        pattern, repl = next(((p, r) for p, r in inverse if re.fullmatch(p, key)), (None, None))
        if pattern is None:
            raise ConfigError(f"no fairseq name for HubertModel key {key}")
        state[re.sub(pattern, repl, key)] = value.detach().clone()
    conv = " + ".join(f"[({d},{k},{s})]" for d, k, s in zip(cfg.conv_dim, cfg.conv_kernel, cfg.conv_stride))
    model_cfg = {
        "_name": "hubert",
        "extractor_mode": "layer_norm" if cfg.feat_extract_norm == "layer" else "default",
        "encoder_layers": cfg.num_hidden_layers,
        "encoder_embed_dim": cfg.hidden_size,
        "encoder_ffn_embed_dim": cfg.intermediate_size,
        "encoder_attention_heads": cfg.num_attention_heads,
        "activation_fn": cfg.hidden_act,
        "conv_feature_layers": conv,
        "conv_bias": cfg.conv_bias,
        "conv_pos": cfg.num_conv_pos_embeddings,
        "conv_pos_groups": cfg.num_conv_pos_embedding_groups,
        "layer_norm_first": cfg.do_stable_layer_norm,
    }
    return state, model_cfg
