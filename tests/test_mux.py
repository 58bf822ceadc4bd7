"""`media.mux_audio` over every container/codec pair PyAV writes here: every frame kept, audio as long as video.

Inputs: mp4, mkv, mov, webm, avi holding H.264 (with and without B-frames), VP9 or MPEG-4,
at a constant or a variable frame rate (each pair PyAV can write). Outputs: every container
`media.OUTPUT_CONTAINERS` accepts. A pair the output container cannot hold by stream copy
must be refused by `media.check_copyable` (which the CLI calls before any model work) and
by `mux_audio`, with one line and no file left.
"""

from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from v2meow import media
from v2meow.errors import MediaError

FPS = 12
SECONDS = 2.0
SIZE = 64
SR = 16000
CODECS = {  # name -> (PyAV encoder, encoder options)
    "h264": ("libx264", {"bf": "0", "g": "12"}),
    "h264-bframes": ("libx264", {"bf": "2", "g": "12"}),
    "vp9": ("libvpx-vp9", {"g": "12"}),
    "mpeg4": ("mpeg4", {"g": "12"}),
}
# container -> codecs PyAV writes into it here (webm takes VP8/VP9/AV1 only, mov no VP9)
WRITABLE = {
    "mp4": ["h264", "h264-bframes", "vp9", "mpeg4"],
    "mkv": ["h264", "h264-bframes", "vp9", "mpeg4"],
    "mov": ["h264", "h264-bframes", "mpeg4"],
    "webm": ["vp9"],
    "avi": ["h264", "h264-bframes", "vp9", "mpeg4"],
}
INPUTS = [(c, k, vfr) for c, ks in WRITABLE.items() for k in ks for vfr in (False, True)]


def write_video(path, codec: str, vfr: bool) -> list[int]:
    """A 64x64 video whose frame i has brightness 9 * i; VFR alternates 50 and 117 ms frames. Returns the brightnesses."""
    encoder, options = CODECS[codec]
    tb = Fraction(1, 1000) if vfr else Fraction(1, FPS)
    values = [(9 * i) % 240 + 8 for i in range(int(SECONDS * FPS))]
    with av.open(str(path), "w") as c:
        v = c.add_stream(encoder, rate=FPS)
        v.width = v.height = SIZE
        v.pix_fmt = "yuv420p"
        v.options = options
        v.codec_context.time_base = tb
        t = 0
        for i, value in enumerate(values):
            frame = av.VideoFrame.from_ndarray(np.full((SIZE, SIZE, 3), value, np.uint8), format="rgb24")
            frame.pts, frame.time_base = (t if vfr else i), tb
            t += 50 if i % 2 else 117
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
    return values


def brightness(path) -> list[int]:
    with av.open(str(path)) as c:
        return [round(float(f.to_ndarray(format="gray").mean())) for f in c.decode(video=0)]


def stream_end(path, kind: str) -> float:
    """Seconds at which the last packet of the first `kind` stream ends."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        frame = 1 / float(stream.average_rate or FPS) if kind == "video" else 0.0
        end = 0.0
        for p in c.demux(stream):
            if p.pts is not None:
                end = max(end, float((p.pts + (p.duration or 0)) * p.time_base) + (0.0 if p.duration else frame))
    return end


class _Inputs(dict):
    """Input videos, each written on first use."""

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def __missing__(self, key):
        container, codec, vfr = key
        path = self.folder / f"{codec}{'-vfr' if vfr else ''}.{container}"
        self[key] = (path, write_video(path, codec, vfr))
        return self[key]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return _Inputs(tmp_path_factory.mktemp("mux-in"))


def _check_pair(inputs, tmp_path, key, out_suffix):
    src, values = inputs[key]
    decoded = brightness(src)
    assert len(decoded) == len(values) and all(abs(a - b) <= 3 for a, b in zip(decoded, values))
    out = tmp_path / f"out{out_suffix}"
    wav = 0.1 * torch.sin(torch.arange(int(3 * SR)) / 10.0)[None]  # longer than the video: trimmed
    codec = media.video_codec(src)
    allowed = media.COPYABLE[out_suffix]
    if allowed is not None and codec not in allowed:
        with pytest.raises(MediaError) as e:
            media.check_copyable(codec, out)
        assert "\n" not in str(e.value) and out_suffix in str(e.value)
        with pytest.raises(MediaError):
            media.mux_audio(src, wav, SR, out)
        assert not out.exists()
        return
    media.mux_audio(src, wav, SR, out)
    assert brightness(out) == brightness(src)  # every frame, in order (the first GOP included)
    video, audio = stream_end(out, "video"), stream_end(out, "audio")
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        audio_frame = (a.codec_context.frame_size or 1024) / a.rate
    # equal up to the containers' granularity: one audio frame and one video frame
    assert abs(video - audio) <= audio_frame + 1 / FPS + 1e-3, (video, audio)
    assert video == pytest.approx(SECONDS, abs=0.25)


@pytest.mark.parametrize("out_suffix", sorted(media.OUTPUT_CONTAINERS))
def test_matroska_bframes_keeps_first_gop(inputs, tmp_path, out_suffix):
    """The reported case: Matroska gives the IDR keyframe no dts; it used to be dropped with its GOP."""
    _check_pair(inputs, tmp_path, ("mkv", "h264-bframes", False), out_suffix)


@pytest.mark.slow
@pytest.mark.parametrize("out_suffix", sorted(media.OUTPUT_CONTAINERS))
@pytest.mark.parametrize("key", INPUTS, ids=[f"{c}-{k}{'-vfr' if v else ''}" for c, k, v in INPUTS])
def test_every_pair(inputs, tmp_path, key, out_suffix):
    _check_pair(inputs, tmp_path, key, out_suffix)


def test_unsupported_output_container_refused(tmp_path):
    for suffix in (".avi", ".m4v", ".flv", ".gif"):
        with pytest.raises(MediaError, match="unsupported video container"):
            media.output_container(tmp_path / f"o{suffix}")
