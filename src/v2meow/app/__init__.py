"""`v2meow-app`: a local web page (Gradio) where a video creator drops a video and listens.

Modules, each importable without starting anything:

- `soundtrack`: the generation job behind the page (no Gradio): check the upload, run
  the pipeline with per-stage progress, write the mp4, wav and picture of each candidate.
- `plots`: the waveform + spectrogram picture of a soundtrack.
- `workspace`: the temporary folder holding uploads and outputs, removed on exit.
- `ui`: the Gradio page (`build_app`).
- `server`: start the page on a host and port, stop it cleanly.

The console entry point is `v2meow.cli.app:main` (`v2meow-app`, or `python -m v2meow.cli.app`): the
web app sits below the command line and never imports it. Gradio comes with the `app` extra.
"""
