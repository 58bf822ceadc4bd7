"""Tokenizers: semantic tokens, acoustic codec, and the style (text/audio) embedder."""
