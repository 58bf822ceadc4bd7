"""The Gradio page: a video in, settings, Generate, and up to four candidates side by side."""

from __future__ import annotations

import html
import logging
import random
from collections.abc import Sequence
from pathlib import Path

import gradio as gr

from v2meow.app.soundtrack import MAX_CANDIDATES, Outcome, Settings, SoundtrackJob
from v2meow.errors import V2MeowError
from v2meow.stages.base import ROLES

log = logging.getLogger(__name__)

INTRO = """\
# V2Meow: music for your video
Upload a video (or pick an example), optionally describe the style you want, and press
**Generate**. The music follows what happens on screen and lasts exactly as long as the clip;
any sound the video had is replaced. Everything runs on this computer. Under the results, a
range of a candidate can be written anew while the rest of it stays (bundles that read music
back); the blue lines on each waveform are its beats, the dark ones downbeats.
"""
CSS = """
#status { min-height: 4.5em; }
.candidate { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px; }
"""
VIDEO_HEIGHT = 320  # pixels: a player per candidate stays on screen with its picture
STAGES = [
    ("Stage 1: musical structure", "higher: more surprising; 0: always the likeliest choice"),
    ("Stage 2: coarse sound", "the instruments' sound"),
    ("Stage 3: fine detail", "low values keep the sound clean"),
]


def theme() -> gr.themes.Base:
    """Gradio's default look in orange; its fonts ship with Gradio, so nothing is fetched."""
    return gr.themes.Default(primary_hue="orange", secondary_hue="amber")


def build_app(job: SoundtrackJob, examples: Sequence[Path] = (), bundle_name: str = "") -> gr.Blocks:
    """Lay out the page and wire Generate to `job`; `server.launch` queues and serves it."""
    keep = int(job.limits.keep_minutes * 60)  # Gradio's own cache (the files it serves) is swept alike
    with gr.Blocks(title="V2Meow", analytics_enabled=False, delete_cache=(max(60, keep // 4), keep)) as demo:
        gr.Markdown(INTRO)
        if bundle_name:
            note = "takes text prompts" if job.accepts_text else "takes no text prompt"
            gr.Markdown(f"Model bundle: `{bundle_name}` ({note}).", elem_id="bundle")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                video = gr.Video(label="Your video", sources=["upload"], height=VIDEO_HEIGHT, elem_id="video-in")
                if examples:
                    gr.Examples(
                        [[str(p)] for p in examples],
                        inputs=[video],
                        label="Examples",
                        examples_per_page=8,
                        example_labels=[p.stem.replace("_", " ") for p in examples],
                        elem_id="examples",
                    )
            with gr.Column(scale=1):
                settings = _settings(job)
                button = gr.Button("Generate", variant="primary", elem_id="generate")
                status = gr.Markdown("", elem_id="status")
        with gr.Row(equal_height=False, elem_id="results"):
            slots = [field for i in range(MAX_CANDIDATES) for field in _candidate_slot(i)]
        shown = gr.State([])  # the wav of each candidate on the page: what a range is regenerated in
        with gr.Row(visible=job.can_edit, elem_id="edit"):
            start = gr.Number(label="Regenerate from (s)", minimum=0, elem_id="edit-start")
            end = gr.Number(label="to (s)", minimum=0, elem_id="edit-end")
            which = gr.Dropdown(list(range(1, MAX_CANDIDATES + 1)), value=1, label="in candidate", elem_id="edit-which")
            again = gr.Button("Regenerate range", elem_id="regenerate")
        button.click(
            make_handler(job),
            inputs=[video, *settings],
            outputs=[status, *slots, shown],
            concurrency_limit=1,
            show_progress="full",
        )
        again.click(
            make_handler(job, edit=True),
            inputs=[video, *settings, start, end, which, shown],
            outputs=[status, *slots, shown],
            concurrency_limit=1,
            show_progress="full",
        )
    return demo


def _settings(job: SoundtrackJob) -> list[gr.components.Component]:
    """Prompt, seed, three temperatures, candidate count, rhythm guidance, loudness target and switch:
    in the handler's argument order."""
    defaults = job.defaults()
    hint = 'e.g. "calm piano", "drum and bass"' if job.accepts_text else "this model bundle takes no text prompt"
    text = gr.Textbox(label="Style prompt (optional)", placeholder=hint, interactive=job.accepts_text, elem_id="prompt")
    count = gr.Slider(
        1,
        MAX_CANDIDATES,
        value=1,
        step=1,
        label="Candidates",
        info="several versions side by side",
        elem_id="candidates",
    )
    with gr.Row():
        seed = gr.Number(
            value=defaults.seed,
            minimum=0,  # no precision: 1.5 reaches validation.seed and is refused, not rounded
            label="Seed",
            info="same seed and settings, same music",
            scale=3,
            elem_id="seed",
        )
        dice = gr.Button("New seed", size="sm", scale=1, elem_id="new-seed")
    with gr.Accordion("Sampling temperature per stage", open=False):
        temps = [
            gr.Slider(0.0, 1.5, value=t, step=0.05, label=label, info=info, elem_id=f"temperature-{i + 1}")
            for i, ((label, info), t) in enumerate(zip(STAGES, defaults.temperatures.values()))
        ]
    rhythm = gr.Slider(
        0.0,
        5.0,
        value=defaults.rhythm_guidance,
        step=0.25,
        label="Follow the video's rhythm (guidance)",
        info="1 = as trained; higher follows the picture's beats more closely",
        visible=job.follows_rhythm,
        elem_id="rhythm-guidance",
    )
    with gr.Accordion("Output loudness", open=False):
        normalise = gr.Checkbox(
            value=defaults.loudness is not None,
            label="Normalise loudness (ITU-R BS.1770)",
            info="true peak kept under -1 dBTP; off: as the model decodes it",
            elem_id="normalise-loudness",
        )
        loudness = gr.Slider(
            -30.0,
            -6.0,
            value=-14.0 if defaults.loudness is None else defaults.loudness,
            step=1.0,
            label="Target loudness (LUFS)",
            info="-14: what streaming services play music at",
            elem_id="loudness",
        )
    dice.click(lambda: random.randrange(2**31), outputs=seed, queue=False, show_progress="hidden")
    return [text, seed, *temps, count, rhythm, loudness, normalise]


def _candidate_slot(i: int) -> list[gr.components.Component]:
    """A hidden column for candidate `i`: title, player, picture, two download buttons."""
    n = i + 1
    with gr.Column(visible=False, elem_id=f"candidate-{n}", elem_classes="candidate", min_width=240) as column:
        title = gr.Markdown(f"### Candidate {n}")
        player = gr.Video(
            label="Video with its new soundtrack", interactive=False, height=VIDEO_HEIGHT, elem_id=f"result-video-{n}"
        )
        picture = gr.Image(
            label="Waveform and spectrogram",
            show_label=False,
            type="filepath",
            interactive=False,
            elem_id=f"picture-{n}",
        )
        with gr.Row():
            mp4 = gr.DownloadButton("Download video", size="sm", elem_id=f"download-video-{n}")
            wav = gr.DownloadButton("Download wav", size="sm", elem_id=f"download-wav-{n}")
    return [column, title, player, picture, mp4, wav]


def _slot_updates(outcome: Outcome) -> list:
    """New values for every slot: the candidates shown, the rest hidden and emptied."""
    updates = []
    for i in range(MAX_CANDIDATES):
        if i >= len(outcome.candidates):
            updates += [
                gr.Column(visible=False),
                "",
                None,
                None,
                gr.DownloadButton(value=None),
                gr.DownloadButton(value=None),
            ]
            continue
        c = outcome.candidates[i]
        title = f"### Candidate {i + 1}" + (f" · prompt match {c.score:.2f}" if c.score is not None else "")
        updates += [
            gr.Column(visible=True),
            title,
            str(c.video),
            str(c.picture),
            gr.DownloadButton(f"Download {c.video.suffix[1:]}", value=str(c.video)),
            gr.DownloadButton("Download wav", value=str(c.audio)),
        ]
    return updates


def make_handler(job: SoundtrackJob, edit: bool = False):
    """The Generate callback (`edit`: Regenerate range, which also reads the range, the candidate and the
    candidates' wavs): run the job with progress, fill the candidate slots, or show an error."""

    # Gradio fills `progress` from its default: the one place a call in a default is the idiom.
    def generate(
        video,
        text,
        seed,
        t1,
        t2,
        t3,
        count,
        rhythm=1.0,
        loudness=-14.0,
        normalise=True,
        start=None,
        end=None,
        which=1,
        shown=(),
        progress=gr.Progress(track_tqdm=True),
    ):
        if not video:
            raise gr.Error(
                "Upload a video first, or pick one of the examples.", title="No video", print_exception=False
            )
        keep = None
        if edit:
            if not shown or not which or int(which) > len(shown):
                raise gr.Error(
                    "Generate first, then pick a candidate shown.", title="Nothing to edit", print_exception=False
                )
            keep = shown[int(which) - 1]
        settings = Settings(
            text=text,
            seed=seed,
            temperatures=dict(zip(ROLES, (t1, t2, t3))),
            num_samples=1 if count is None else count,  # 2.5 is refused by validation, never rounded
            rhythm_guidance=1.0 if rhythm is None else rhythm,
            loudness=loudness if normalise else None,
            regenerate=(start, end) if edit else None,
        )
        try:
            report = lambda fraction, message: progress(fraction, desc=message)  # noqa: E731
            outcome = job.run(video, settings, report=report, keep=keep)
        except V2MeowError as e:  # the user's doing: say what is wrong, in the page
            raise gr.Error(
                html.escape(str(e)), duration=None, title="Cannot make music for this video", print_exception=False
            ) from None
        except Exception as e:  # a bug: the traceback goes to the terminal only
            log.exception("generation failed")
            raise gr.Error(
                f"Generation failed unexpectedly ({type(e).__name__}); the terminal running v2meow-app has the details.",
                duration=None,
                print_exception=False,
            ) from None
        return [outcome.summary(), *_slot_updates(outcome), [str(c.audio) for c in outcome.candidates]]

    return generate
