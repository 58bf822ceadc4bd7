"""Recipes: the demo data, the demo bundles and the measurements behind docs/ (checkpoints.md).

Not part of the installed package: run them from the repository root (`python -m recipes.bundle`,
or the make targets). They import `v2meow`; `v2meow` never imports them.

- `recipes.debian`: fetch and unpack Debian packages, read their licences.
- `recipes.demo_data`: the demo data (`python -m recipes.demo_data`, `make demo-data`): tracks.json, then clips.
- `recipes.clips`: cut tracks into mono clips, listed in clips.json.
- `recipes.audio_pack`: a small pack of the training audio (`python -m recipes.audio_pack`).
- `recipes.analysis`: onsets, tempo, beats and timbre of a clip (numpy only).
- `recipes.visualizer`: render a clip as a small video that follows its music; pulse videos.
- `recipes.render`: render every clip (`python -m recipes.render`).
- `recipes.bundle`: the demo-bundle recipes (`python -m recipes.bundle`, `make demo-bundle`).
- `recipes.train`: `make train-codec` ... `make train-stage3` on the demo data or your own cache.
- `recipes.ladder`: which link of the chain keeps the rhythm (`python -m recipes.ladder`).
- `recipes.proof`: the whole evidence run (`make proof`, docs/proof.md).
- `recipes.measure_options`: the beat-alignment figures of two stage-1 runs (docs/options.md).
"""
