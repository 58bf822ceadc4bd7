"""Render the visualizer video of every clip of a `clips.json`: the (video, music) pairs of the demo.

    python -m recipes.render --clips data/demo/clips.json --out data/demo/videos

Writes `<out>/<package>/<clip>.mp4` (music muxed in) and `<out>/videos.json` (one entry
per video: paths, split, licence, tempo, onset and beat counts). Resumable: a video
already listed with the same settings is not rendered again; every write is atomic.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import torch
from tqdm import tqdm

from recipes._jsonio import read_json, relative, write_json
from recipes.clips import load_clips
from recipes.visualizer import render
from v2meow import media
from v2meow.errors import ConfigError
from v2meow.safety.outputs import atomic_output

FORMAT_VERSION = 1


def render_clips(
    clips: list[dict],
    out_dir: str | os.PathLike,
    fps: float = 20.0,
    size: tuple[int, int] = (96, 96),
    crf: int = 25,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Render one video per clip into `out_dir` and index them in `out_dir/videos.json`.

    Args:
        clips: entries of `clips.json` with absolute paths (see `load_clips`).
        out_dir: where the videos and `videos.json` go.
        fps, size, crf: video settings (a change re-renders everything).

    Returns:
        The video entries (paths absolute).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index_path = out_dir / "videos.json"
    params = {"fps": fps, "size": list(size), "crf": crf}
    previous = read_json(index_path, default={"params": None})
    done = {}
    if previous.get("params") == params:
        done = {v["id"]: {**v, "video": str((out_dir / v["video"]).resolve())} for v in previous.get("videos", [])}
    videos = []
    for clip in tqdm(clips, desc="render", unit="clip", disable=not progress):
        entry = done.get(clip["id"])
        if entry is not None and Path(entry["video"]).exists():
            entry = {**entry, **_clip_fields(clip)}  # the clips index is the source of truth
        else:
            path = out_dir / f"{clip['id']}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            wav, sr = media.read_audio(clip["path"], channels=1)  # [1, N] at the clip's own rate
            info = render(wav, sr, path, fps=fps, size=size, crf=crf)
            entry = {
                "id": clip["id"],
                "video": str(path.resolve()),
                **_clip_fields(clip),
                "duration": round(wav.shape[-1] / sr, 3),
                "frames": info.frames,
                "tempo": None if info.tempo is None else round(info.tempo, 2),
                "onsets": info.onsets,
                "beats": info.beats,
            }
        videos.append(entry)
        _write_index(index_path, params, videos)
    _write_index(index_path, params, videos)
    log(f"{len(videos)} videos in {out_dir} ({sum(Path(v['video']).stat().st_size for v in videos) / 1e6:.1f} MB)")
    return videos


def _clip_fields(clip: dict) -> dict:
    return {"clip": clip["path"], **{k: clip.get(k) for k in ("track", "package", "split", "licence")}}


def _write_index(path: Path, params: dict, videos: list[dict]) -> None:
    base = path.parent
    rel = [{**v, "video": relative(v["video"], base), "clip": relative(v["clip"], base)} for v in videos]
    write_json(path, {"format_version": FORMAT_VERSION, "params": params, "videos": rel})


def contact_sheet(video: str | os.PathLike, png: str | os.PathLike, seconds: float = 2.0, columns: int = 10) -> Path:
    """Save the first `seconds` of `video` as a grid of frames (`columns` per row) to `png`."""
    info = media.probe(video)
    frames = media.read_frames(video, rate=info.fps or 20.0, duration=seconds).frames  # [T, 3, H, W]
    cols = min(columns, frames.shape[0])
    t = frames.shape[0] // cols * cols
    _, c, h, w = frames.shape
    grid = frames[:t].reshape(t // cols, cols, c, h, w).permute(0, 3, 1, 4, 2).reshape(t // cols * h, cols * w, c)
    with atomic_output(png) as tmp, av.open(str(tmp), "w", format="image2") as out:
        stream = out.add_stream("png", rate=1)
        stream.height, stream.width, stream.pix_fmt = grid.shape[0], grid.shape[1], "rgb24"
        out.mux(stream.encode(av.VideoFrame.from_ndarray(grid.contiguous().numpy(), format="rgb24")))
        out.mux(stream.encode(None))
    return Path(png)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m recipes.render", description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", default="data/demo/clips.json", help="clips index (default: data/demo/clips.json)")
    p.add_argument("--out", default="data/demo/videos", help="output folder (default: data/demo/videos)")
    p.add_argument("--fps", type=float, default=20.0)
    p.add_argument("--size", type=int, nargs=2, default=(96, 96), metavar=("H", "W"))
    p.add_argument("--crf", type=int, default=25, help="x264 quality (lower: better, bigger)")
    p.add_argument("--split", choices=("train", "eval"), help="only this split")
    p.add_argument("--limit", type=int, help="only the first N clips (after --split)")
    p.add_argument("--preview", type=int, default=0, metavar="N", help="also save PNG contact sheets of N videos")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m recipes.render`."""
    from v2meow.cli.common import parse, run

    args = parse(_parser(), argv)

    def job() -> int:
        t0 = time.perf_counter()
        torch.set_num_threads(1)
        clips = load_clips(args.clips)
        if args.split:
            clips = [c for c in clips if c["split"] == args.split]
        if args.limit is not None:
            if args.limit < 0:
                raise ConfigError(f"--limit must be >= 0, got {args.limit}")
            clips = clips[: args.limit]
        videos = render_clips(clips, args.out, fps=args.fps, size=tuple(args.size), crf=args.crf, progress=True)
        for v in videos[: args.preview]:
            png = contact_sheet(v["video"], Path(v["video"]).with_suffix(".png"))
            print(f"preview: {png}")
        print(f"done in {time.perf_counter() - t0:.1f} s")
        return 0

    return run("recipes.render", job, args=args)


if __name__ == "__main__":
    sys.exit(main())
