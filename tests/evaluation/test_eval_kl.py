import numpy as np
import pytest
from evalsynth import BandClassifier, music_like

from v2meow.errors import MissingWeightsError
from v2meow.evaluation.kl import HFAudioClassifier, kl_divergence


def test_kl_divergence_basics():
    p = np.array([0.2, 0.3, 0.5])
    assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    assert kl_divergence(p, 10 * p) == pytest.approx(0.0, abs=1e-12)  # both scaled to sum 1
    assert kl_divergence(p, np.array([0.6, 0.3, 0.1])) > 0.3
    assert np.isfinite(kl_divergence(p, np.array([1.0, 0.0, 0.0])))
    with pytest.raises(ValueError):
        kl_divergence(p, p[:2])


def test_custom_classifier_predicts_distribution():
    p = BandClassifier().predict(music_like(0, 1.0, sample_rate=22_050), 22_050)
    assert p.shape == (8,) and p.sum() == pytest.approx(1.0)


@pytest.fixture(scope="module")
def tiny_ast(tmp_path_factory):
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    d = tmp_path_factory.mktemp("ast")
    cfg = ASTConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_mel_bins=32,
        max_length=128,
        num_labels=5,
    )
    ASTForAudioClassification(cfg).save_pretrained(d)
    ASTFeatureExtractor(num_mel_bins=32, max_length=128, sampling_rate=16_000).save_pretrained(d)
    return d


def test_hf_classifier_from_local_directory(tiny_ast):
    clf = HFAudioClassifier.from_pretrained(tiny_ast)
    assert clf.activation == "softmax" and clf.window_seconds == pytest.approx(1.28)
    assert len(clf.labels) == 5
    p = clf.predict(music_like(0, 3.0), 16_000)  # three windows, averaged
    assert p.shape == (5,) and p.sum() == pytest.approx(1.0, abs=1e-5)
    sig = HFAudioClassifier.from_pretrained(tiny_ast, activation="sigmoid").predict(music_like(0, 1.0), 16_000)
    assert sig.shape == (5,) and np.all((sig > 0) & (sig < 1))


def test_hf_classifier_missing_directory(tmp_path):
    with pytest.raises(MissingWeightsError, match="audio-classification"):
        HFAudioClassifier.from_pretrained(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingWeightsError):
        HFAudioClassifier.from_pretrained(tmp_path / "empty")
