"""Typed exceptions. Every error a user can cause derives from `V2MeowError`.

The CLIs catch `V2MeowError`, print its message as one line and exit with status 2.
"""

from __future__ import annotations


class V2MeowError(Exception):
    """Base class of every error v2meow raises on purpose."""


class MediaError(V2MeowError):
    """A media file cannot be used: unreadable, empty, or missing the needed stream."""


class UnreadableMediaError(MediaError):
    """The file does not exist, is empty, is not a media container, or fails to decode."""


class NoVideoStreamError(MediaError):
    """The file has no video stream (e.g. an audio file given as a video)."""


class NoAudioStreamError(MediaError):
    """The file has no audio stream."""


class EmptyMediaError(MediaError):
    """The stream exists but holds no frames or samples."""


class UnknownComponentError(V2MeowError, KeyError):
    """A registry lookup (extractor, backbone, preset) named something unknown."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class MissingWeightsError(V2MeowError, FileNotFoundError):
    """Pretrained weights are needed but not found locally; the message says what to fetch."""


class ConfigError(V2MeowError, ValueError):
    """A configuration or argument is invalid."""


class OutputError(V2MeowError):
    """An output cannot be written (missing or read-only directory, ...)."""
