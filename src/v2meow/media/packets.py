"""Packet timing for muxing copied video with new audio: decoding timestamps for packets that
lack them, interleaving in decoding-time order, and the audio encoder's priming (`media.mux_audio`
uses these)."""

from __future__ import annotations

import numpy as np

# Matroska (and WebM) store an audio track's timestamps moved later by the encoder's priming (its
# CodecDelay) and count the file's duration to the moved end: AAC's 1024 samples made a 2.0 s video's
# .mkv last 2.064 s at 16 kHz. `media.mux_audio` leaves that many samples out at the end there.
MATROSKA = {"matroska", "webm"}


def priming(codec: str, sample_rate: int, layout: str) -> int:
    """Samples `codec` puts before the audio (its first packet's pts is minus this: AAC 1024, Opus 312),
    found by encoding silence. An MP4 hides them with an edit list; a Matroska file counts them in its
    duration (`MATROSKA`), so there the audio is made that much shorter and the file lasts as long as
    its video (the audio track then ends at most one audio frame before the picture does).
    """
    import av

    ctx = av.CodecContext.create(codec, "w")
    ctx.sample_rate, ctx.layout = sample_rate, layout
    ctx.format = ctx.codec.audio_formats[0].name
    ctx.open()
    channels = 1 if layout == "mono" else 2
    frame = av.AudioFrame.from_ndarray(np.zeros((channels, ctx.frame_size or 1024), np.float32), "fltp", layout)
    frame.sample_rate, frame.pts = sample_rate, 0
    packets = list(ctx.encode(frame)) + list(ctx.encode(None))
    first = min((p.pts for p in packets if p.pts is not None), default=0)
    return max(0, -int(first * sample_rate * packets[0].time_base)) if packets else 0


def _with_dts(packets, step: int):
    """Video packets, each with a decoding timestamp; the final empty flush packet dropped.

    Some demuxers give a packet no dts: Matroska stores only presentation times, so with
    B-frames the first packets (the IDR keyframe among them) come without one. Such a
    packet gets a dts that keeps decode order: counted back by `step` (one frame, in
    the stream's time base) from the next known dts, else forward from the previous one,
    never above its pts; with no dts anywhere it is the pts. A packet without a duration
    gets `step`.
    """
    waiting: list = []  # packets without dts before the first known one
    last = None
    for packet in packets:
        if packet.size == 0 and packet.pts is None:  # the demuxer's flush packet
            continue
        if not packet.duration:  # AVI stores none; mp4 would then cut the last frame from its edit list
            packet.duration = step
        if packet.dts is None and last is None:
            waiting.append(packet)
            continue
        if packet.dts is None:
            packet.dts = last + step if packet.pts is None else min(last + step, max(packet.pts, last + 1))
        for j, early in enumerate(waiting):
            early.dts = packet.dts - (len(waiting) - j) * step
            yield early
        waiting = []
        last = packet.dts
        yield packet
    for j, early in enumerate(waiting):  # no packet had a dts: decode order is presentation order
        early.dts = early.pts if early.pts is not None else j * step
        yield early


def mux_interleaved(dst, video_packets, vout, audio_packets: list, step: int = 1) -> None:
    """Mux copied video packets and encoded audio packets in decoding-time order."""
    audio = iter(audio_packets)
    pending = next(audio, None)
    for packet in _with_dts(video_packets, step):
        t = float(packet.dts * packet.time_base)
        while pending is not None and float(pending.dts * pending.time_base) <= t:
            dst.mux(pending)
            pending = next(audio, None)
        packet.stream = vout
        dst.mux(packet)
    while pending is not None:
        dst.mux(pending)
        pending = next(audio, None)
