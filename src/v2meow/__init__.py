"""v2meow: music soundtracks for silent videos (a reimplementation of V2Meow, arXiv 2305.06594)."""

__version__ = "0.1.0"
