"""Weight-free signal processing shared by data preparation, generation and evaluation.

- `dsp`: spectrograms and the one mel filterbank; `griffin_lim` and `pghi`: phase from a magnitude;
- `rhythm`: onsets, video beats, tempo, beat tracking, the rhythm channel's pulses; `markers`: beat
  markers for video editors; `stretch`: time stretching;
- `describe`: caption words from music (tempo, energy, brightness); `loudness`: output loudness.
"""
