"""Packet timing for muxing copied video with new audio: decoding timestamps for packets that
lack them, and interleaving in decoding-time order (`media.mux_audio` uses these)."""

from __future__ import annotations


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
