"""The demo data recipe and music-visualizer videos (checkpoints.md).

- `v2meow.demo.debian`: fetch and unpack Debian packages, read their licences.
- `v2meow.demo.data`: the recipe (`python -m v2meow.demo.data`): tracks.json, then clips.
- `v2meow.demo.clips`: cut tracks into mono clips, listed in clips.json.
- `v2meow.demo.analysis`: onsets, tempo, beats and timbre of a clip (numpy only).
- `v2meow.demo.visualizer`: render a clip as a small video that follows its music.
- `v2meow.demo.render`: render every clip (`python -m v2meow.demo.render`).
"""
