import math

import torch

from v2meow.features.registry import build_extractor
from v2meow.features.video import extract_video


def test_chunked_extraction_matches_one_pass(make_video):
    video = make_video(duration=6.0, fps=25, size=(48, 64), pattern="moving")
    ext = build_extractor("motion")
    whole = extract_video(ext, video, chunk_seconds=60)
    chunked = extract_video(ext, video, chunk_seconds=2.0)
    assert chunked.features.shape == whole.features.shape == (math.ceil(6.0 * ext.rate), ext.dim)
    assert chunked.duration == whole.duration
    # only the first step of each chunk lacks the previous frame's motion
    same = torch.ones(whole.features.shape[0], dtype=torch.bool)
    same[20::20] = False
    torch.testing.assert_close(chunked.features[same], whole.features[same], atol=1e-5, rtol=0)
