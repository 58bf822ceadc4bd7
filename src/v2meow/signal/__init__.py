"""Weight-free signal processing shared by data preparation and evaluation: spectrograms
(`dsp`) and rhythm analysis: onsets, video beats, tempo (`rhythm`)."""
