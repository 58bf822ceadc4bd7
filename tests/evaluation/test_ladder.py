"""The rhythm ladder's measures: octave-folded deviation, token novelty, steady-tempo selection."""

import math

import numpy as np
import pytest
import torch

from recipes.ladder import has_steady_tempo, octave_deviation, token_tempo


def test_octave_deviation_folds_octaves_and_flags_missing_values():
    assert octave_deviation(120, 120) == 0 and octave_deviation(240, 120) == 0 and octave_deviation(60, 120) == 0
    assert octave_deviation(120 * 2**0.5, 120) == pytest.approx(0.5)
    assert octave_deviation(126, 120) == pytest.approx(math.log2(126 / 120))
    assert math.isnan(octave_deviation(None, 120)) and math.isnan(octave_deviation(120, float("nan")))


def _clicks(bpm: float, seconds: float = 8.0, rate: int = 16000) -> torch.Tensor:
    wav = np.zeros(int(seconds * rate), np.float32)
    for t in np.arange(0, seconds, 60 / bpm):
        wav[int(t * rate) : int(t * rate) + 200] = np.random.default_rng(int(t * 1000)).standard_normal(200)
    return torch.from_numpy(wav)[None]


def test_steady_tempo_is_told_from_a_tempo_change():
    assert has_steady_tempo(_clicks(120), 16000)
    change = torch.cat([_clicks(75, 4.0), _clicks(160, 4.0)], dim=1)  # 75 then 160 BPM
    assert not has_steady_tempo(change, 16000)


def test_tokens_whose_centroids_pulse_read_at_that_tempo():
    """A 'tokenizer' whose two centroids are loud and quiet log-mel frames; tokens alternating at
    2 Hz (120 BPM at 25 tokens/s) read back as 120 BPM (or an octave of it)."""

    class Tok:
        frame_rate = 25.0

        class config:
            backbone = "mel"
            backbone_spec = {"n_mels": 4}

        class quantizer:
            centroids = torch.tensor([[0.0] * 8, [3.0] * 4 + [0.0] * 4])
            mean, std = torch.zeros(8), torch.ones(8)

    period = 12.5  # tokens per beat
    tokens = torch.tensor([1 if (i % period) < 2 else 0 for i in range(250)])
    assert octave_deviation(token_tempo(Tok, tokens), 120) < 0.03


def test_judges_summary_takes_medians_and_shares_of_the_codec_round_trip():
    from recipes.ladder import judges_summary

    def row(notes, events, beat):
        return {"note_salience": notes, "note_events_per_second": events, "beat_pulse": beat}

    judged = {
        "music": [row(0.5, 2.0, 0.9), row(0.6, 3.0, 1.0)],
        "codec": [row(0.4, 1.0, 0.8), row(0.4, 1.0, None)],  # a score the judge could not give
        "stage2": [row(0.2, 0.5, 0.4), row(0.3, 0.5, 0.2), row(0.1, 0.5, None)],
    }
    s = judges_summary(judged)
    assert s["judges"]["music"]["note_salience"] == pytest.approx(0.55)
    assert s["judges"]["codec"]["beat_pulse"] == pytest.approx(0.8)  # the None is left out, not counted as 0
    assert s["judges_retained"]["stage2"] == {"note_salience": pytest.approx(0.5), "beat_pulse": pytest.approx(0.375)}
    assert "music" not in s["judges_retained"]  # shares only for the links fed ground truth

    missing = {k: [row(None, None, None)] for k in ("music", "codec", "stage2")}  # the judges extra absent
    s = judges_summary(missing)
    assert s["judges"]["codec"] == {"note_salience": None, "note_events_per_second": None, "beat_pulse": None}
    assert s["judges_retained"]["stage2"] == {"note_salience": None, "beat_pulse": None}
