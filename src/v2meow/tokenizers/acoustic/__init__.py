"""Acoustic tokens: residual-VQ codecs: trainable SoundStream and iSTFT/Vocos-style (`vocos`, whose `mel128`
preset quantizes log-mel frames with k-means codebooks), the learned mel codec (`melae`), pretrained EnCodec;
mel codecs decode by Griffin-Lim, PGHI or a vocoder.

from v2meow.tokenizers.acoustic import load_codec
codec = load_codec("checkpoints/codec")        # SoundStream or EnCodec component dir
codes = codec.encode(wav, sample_rate=sr)      # [K, T] for [C, N] / [N] input
coarse, fine = codec.split(codes)              # [N_c, T], [N_f, T]
audio = codec.decode(codes, length=n)          # [C, n] at codec.sample_rate
"""

from v2meow.tokenizers.acoustic.base import AcousticCodec, InvalidAudioError
from v2meow.tokenizers.acoustic.codes_file import EncodedAudio
from v2meow.tokenizers.acoustic.encodec import EncodecCodec, EncodecCodecConfig, codebooks_for_bandwidth
from v2meow.tokenizers.acoustic.melae import MelAECodec, MelAECodecConfig
from v2meow.tokenizers.acoustic.registry import CODECS, load_codec
from v2meow.tokenizers.acoustic.soundstream import SoundStream, SoundStreamConfig, SoundStreamOutput, list_presets
from v2meow.tokenizers.acoustic.vocos import VocosCodec, VocosCodecConfig

__all__ = [
    "CODECS",
    "AcousticCodec",
    "EncodecCodec",
    "EncodecCodecConfig",
    "EncodedAudio",
    "InvalidAudioError",
    "MelAECodec",
    "MelAECodecConfig",
    "SoundStream",
    "SoundStreamConfig",
    "SoundStreamOutput",
    "VocosCodec",
    "VocosCodecConfig",
    "codebooks_for_bandwidth",
    "list_presets",
    "load_codec",
]
