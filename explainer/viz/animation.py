"""Animation: a run as a GIF (pillow) or an MP4 (imageio's ffmpeg plugin, optional).

One frame per shown step: the ``rows`` (default x_t and x̂_0) side by side, each decoded to
RGB and upscaled with nearest pixels to at least ``min_size`` (a 64 px tiny-shapes picture
becomes 256 px), under a caption "step i of n  t=...". A last frame shows the final image
(``trace.images``, the exact decode) and is held four times as long.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from explainer.viz.frames import LABELS, as_decoder, check_rows, check_trace, decoded_rows, \
    step_indices

SUFFIXES = (".gif", ".mp4")
CAPTION_PX = 20   # the caption strip above each frame
GAP_PX = 4        # between panels
HOLD_LAST = 4     # the final frame lasts this many frame durations


def export_animation(trace, path, decode=None, fps: float = 8, image: int = 0,
                     rows=("latents_in", "pred_x0"), every: int = 1, min_size: int = 256) -> Path:
    """Write ``trace``'s steps as an animation to ``path`` (``.gif`` or ``.mp4``); return the path.

    Args:
        trace: a Trace whose ``rows`` were kept.
        path: ends in ``.gif`` (pillow) or ``.mp4`` (needs ``pip install imageio[ffmpeg]``).
        decode: latents -> uint8 images: ``pipe.decode``, a ``LatentPreview`` or a Pipeline;
            None shows latent channels 0-2 as colours (no model needed, e.g. for a loaded trace).
        fps: frames per second.
        image: which image of the trace's batch.
        rows: per-step tensors shown side by side in each frame.
        every: use every ``every``-th step (the last step is always included).
        min_size: panels are upscaled (nearest) by a whole factor to at least this many pixels.

    Everything is checked (suffix, fps, rows, the MP4 writer) before any decoding starts.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"cannot write {path.name!r}: the file must end in .gif or .mp4")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise ValueError(f"fps={fps!r} must be a positive number (8 is a good default)")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise ValueError(f"min_size={min_size!r} must be a positive int of pixels")
    image = check_trace(trace, image)
    rows = check_rows(rows)
    step_indices(len(trace.steps), every)                                   # checks every=
    if suffix == ".mp4":
        ffmpeg = _ffmpeg()
    frames = animation_frames(trace, decode, rows=rows, image=image, every=every,
                              min_size=min_size)                            # [N, Hf, Wf, 3]
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        _write_gif(frames, path, fps)
    else:
        _write_mp4(frames, path, fps, ffmpeg)
    return path


def animation_frames(trace, decode=None, rows=("latents_in", "pred_x0"), image: int = 0,
                     every: int = 1, min_size: int = 256) -> np.ndarray:
    """The frames ``export_animation`` writes, uint8 ``[N, H', W', 3]``: one per shown step,
    then the final image."""
    image = check_trace(trace, image)
    rows = check_rows(rows)
    steps = step_indices(len(trace.steps), every, limit=len(trace.steps))
    pictures = decoded_rows(trace, decode, rows, steps, image)              # row -> [k, H, W, 3]
    h = max(p.shape[1] for p in pictures.values())
    w = max(p.shape[2] for p in pictures.values())
    scale = max(1, int(np.ceil(min_size / min(h, w))))
    panel = (h * scale, w * scale)                                          # (P_h, P_w) pixels
    n = len(trace.steps)
    frames = []
    for c, i in enumerate(steps):
        panels = [_fit(pictures[row][c], panel) for row in rows]            # each [P_h, P_w, 3]
        t = float(trace.steps[i].timestep)
        caption = f"step {i} of {n}  t={t:g}    " + "  |  ".join(LABELS[r][1] for r in rows)
        frames.append(_captioned(_side_by_side(panels), caption))
    final = _final_image(trace, decode, image)                              # [H, W, 3]
    blank = np.zeros_like(frames[0][CAPTION_PX:])                           # [P_h, W', 3]
    x0 = (blank.shape[1] - panel[1]) // 2
    blank[:, x0 : x0 + panel[1]] = _fit(final, panel)
    frames.append(_captioned(blank, "final image"))
    return np.stack(frames)                                                 # [N, H', W', 3]


# -- pieces --------------------------------------------------------------------------------------

def _fit(picture: np.ndarray, panel: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of one [H, W, 3] picture to [P_h, P_w, 3]."""
    from PIL import Image

    if picture.shape[:2] == tuple(panel):
        return picture
    return np.asarray(Image.fromarray(picture).resize((panel[1], panel[0]), Image.NEAREST))


def _side_by_side(panels) -> np.ndarray:
    gap = np.zeros((panels[0].shape[0], GAP_PX, 3), np.uint8)
    parts = [panels[0]]
    for p in panels[1:]:
        parts += [gap, p]
    return np.concatenate(parts, axis=1)                                    # [P_h, W', 3]


def _captioned(body: np.ndarray, text: str) -> np.ndarray:
    """``body`` under a black strip with ``text`` in white."""
    from PIL import Image, ImageDraw, ImageFont

    strip = Image.new("RGB", (body.shape[1], CAPTION_PX))
    try:
        font = ImageFont.load_default(size=13)
    except TypeError:  # pillow < 10.1: one fixed-size bitmap font
        font = ImageFont.load_default()
    ImageDraw.Draw(strip).text((4, 3), text, fill=(255, 255, 255), font=font)
    return np.concatenate([np.asarray(strip), body], axis=0)               # [C + P_h, W', 3]


def _final_image(trace, decode, image: int) -> np.ndarray:
    if trace.images is not None:
        return np.asarray(trace.images)[image]
    if trace.final_latents is not None:
        return np.asarray(as_decoder(decode)(np.asarray(trace.final_latents)[image : image + 1]))[0]
    last = trace.steps[-1]
    if last.latents_out is None:
        raise ValueError("the trace has neither images, final_latents nor the last step's "
                         "latents_out; run with keep=None to animate it")
    return np.asarray(as_decoder(decode)(np.asarray(last.latents_out)[image : image + 1]))[0]


def _write_gif(frames: np.ndarray, path: Path, fps: float) -> None:
    from PIL import Image

    duration = int(round(1000 / fps))
    pictures = [Image.fromarray(f) for f in frames]
    durations = [duration] * (len(pictures) - 1) + [duration * HOLD_LAST]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=durations,
                     loop=0, optimize=False)


def _ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError:
        raise RuntimeError("writing .mp4 needs imageio's ffmpeg plugin, which is not installed: "
                           "`pip install imageio[ffmpeg]`, or write a .gif instead") from None
    return imageio_ffmpeg


def _write_mp4(frames: np.ndarray, path: Path, fps: float, ffmpeg) -> None:
    n, h, w, _ = frames.shape
    H, W = -(-h // 16) * 16, -(-w // 16) * 16                               # H.264 macroblocks
    padded = np.zeros((n, H, W, 3), np.uint8)
    padded[:, :h, :w] = frames
    padded = np.concatenate([padded, np.repeat(padded[-1:], HOLD_LAST - 1, axis=0)])
    writer = ffmpeg.write_frames(str(path), (W, H), fps=fps, codec="libx264",
                                 pix_fmt_out="yuv420p", macro_block_size=16, quality=8)
    writer.send(None)  # start ffmpeg
    try:
        for frame in padded:
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()
