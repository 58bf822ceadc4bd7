"""The stage models: the three steps of the chain, behind one interface.

- `base` (the `Stage` interface and its shared `generate`), `roles` (the roles of the chain as
  data), `registry` (stage kinds by `model_type`), `config` (shared fields, size presets);
- `conditions` (named condition streams, `Condition`), `sampling` (temperature, top-k/p, guidance);
- the model code: `transformer` (SDPA, time-RoPE, KV cache), `lm` (the conditional token LM),
  `aligned` (time-aligned conditioning), `longshort` (VidMuse's front-end), `layout` (flattened
  codebooks), `contrastive` (VMAs' objective), `graphs` (CUDA-graph decode);
- the stage kinds: `ar_semantic`, `ar_coarse`, `ar_fine` (autoregressive: V2Meow's stages 1, 2 and 3; their
  `model_type`s keep the names bundles know: `Role.builtin_type`) and `maskgit` (parallel, coarse or fine).
"""
