"""`v2meow.signal.dsp.mel_filterbank`, the package's one mel filterbank."""

import numpy as np
import pytest
import torch

from v2meow.signal.dsp import hz_to_mel, mel_filterbank, mel_to_hz


def test_hz_triangles_peak_at_one_and_slaney_filters_have_unit_area():
    assert mel_filterbank(16000, 1024, 40).shape == (513, 40)
    fb = mel_filterbank(16000, 8192, 40)  # bins 2 Hz apart: every centre falls near a bin
    assert np.all(fb >= 0) and np.allclose(fb.max(0), 1.0, atol=0.05)
    area = mel_filterbank(16000, 4096, 40, norm="slaney").sum(0) * (8000 / 2048)  # Riemann sum over Hz
    assert np.allclose(area, 1.0, rtol=0.02)


def test_mel_triangles_follow_vggish_and_leave_dc_empty():
    fb = mel_filterbank(16000, 512, 64, 125.0, 7500.0, triangles="mel")
    freqs = np.linspace(0, 8000, 257)
    vmel = 1127.0 * np.log1p(freqs / 700.0)
    edges = np.linspace(1127.0 * np.log1p(125 / 700), 1127.0 * np.log1p(7500 / 700), 66)
    k = 10  # filter 10 rises linearly in mel between edges[10] and edges[11]
    inside = (vmel > edges[k]) & (vmel < edges[k + 1])
    assert np.allclose(fb[inside, k], (vmel[inside] - edges[k]) / (edges[k + 1] - edges[k]))
    assert np.all(fb[0] == 0) and np.all(fb[freqs < 125] == 0) and np.all(fb[freqs > 7500] == 0)


def test_mel_scale_round_trips_and_bad_ranges_are_refused():
    assert np.allclose(mel_to_hz(hz_to_mel([0.0, 700.0, 8000.0])), [0.0, 700.0, 8000.0])
    assert hz_to_mel(700.0) == pytest.approx(2595.0 * np.log10(2.0))
    with pytest.raises(ValueError, match="fmax"):
        mel_filterbank(16000, 512, 40, 100.0, 9000.0)
    with pytest.raises(ValueError, match="triangles"):
        mel_filterbank(16000, 512, 40, triangles="bark")


def test_matches_torchaudio_melscale_fbanks():
    F = pytest.importorskip("torchaudio.functional")
    for norm in (None, "slaney"):
        ref = F.melscale_fbanks(513, 0.0, 8000.0, 64, 16000, norm=norm, mel_scale="htk").numpy()  # [513, 64]
        assert np.allclose(mel_filterbank(16000, 1024, 64, norm=norm), ref, atol=1e-5)


def test_codec_and_semantic_banks_are_the_dsp_bank():
    from v2meow.tokenizers.acoustic.losses import mel_filterbank as codec_bank
    from v2meow.tokenizers.semantic.mel import mel_filterbank as semantic_bank

    assert torch.equal(
        codec_bank(16000, 1024, 80), torch.from_numpy(mel_filterbank(16000, 1024, 80).T.astype(np.float32))
    )
    expected = mel_filterbank(16000, 1024, 64, norm="slaney").astype(np.float32)
    assert torch.equal(semantic_bank(1024, 64, 16000), torch.from_numpy(expected))
