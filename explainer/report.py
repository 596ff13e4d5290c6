"""The Report: one run as a self-contained web page, built from its Trace alone.

``explainer explain`` runs the pipeline, decodes each step's x_t and x̂_0 with the real VAE
into ``trace.previews``, saves the trace and then builds the page from that saved file;
``explainer replay trace.npz`` builds it from the same file with the same code and no model,
so the two pages are byte for byte the same. The page has no timestamps, paths of its own or
external addresses: every picture is a ``data:`` URI and the CSS is inline.

Sections (``<section id=...>``), in order: ``tokens``, ``context``, ``schedule``,
``denoising``, ``guidance``, ``image``, ``settings``.

    report = Report(Trace.load("run/trace.npz"))
    report.write("run/")            # index.html, denoising.gif, image.png
"""

from __future__ import annotations

import base64
import html
import io
import shlex
import tempfile
from pathlib import Path

import numpy as np

PREVIEW_ROWS = ("latents_in", "pred_x0")  # x_t and x̂_0, the filmstrip's and the GIF's rows
FILES = ("index.html", "denoising.gif", "image.png")
SECTIONS = ("tokens", "context", "schedule", "denoising", "guidance", "attention", "image",
            "settings")
DPI = 90

CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:0 auto;padding:1em 2em;
color:#222;background:#fafafa}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em}
nav a{margin-right:1em}section{margin:2em 0}figure{margin:1em 0}
figcaption{font-size:.9em;color:#555}img{max-width:100%;height:auto}
img.pixels{image-rendering:pixelated;width:256px}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:2px 8px;
text-align:left}code,pre{background:#eee;padding:2px 4px;font-size:.9em}
pre{padding:.6em;white-space:pre-wrap;overflow-wrap:anywhere}
"""


def record_previews(trace, decode, rows=PREVIEW_ROWS) -> dict[str, np.ndarray]:
    """Decode image 0's per-step ``rows`` with ``decode`` (e.g. ``pipe.decode``) into
    ``trace.previews`` (row -> uint8 [steps, H, W, 3]); returns them."""
    from explainer.viz.frames import decoded_rows

    def one_by_one(latents):  # batch 1, as the final image: a graph traced once serves all
        return np.concatenate([decode(latents[k : k + 1]) for k in range(len(latents))])

    kept = [row for row in rows if all(getattr(s, row) is not None for s in trace.steps)]
    steps = range(len(trace.steps))
    trace.previews = decoded_rows(trace, one_by_one, kept, steps, 0) if kept else {}
    return trace.previews


def preview_decoder(trace):
    """A ``decode`` for the viz functions that looks pictures up in ``trace.previews`` instead
    of running a VAE: it knows exactly the latents of image 0 at each step it has a picture
    for. None when the trace has no previews (the plots then show channels 0-2 as colours)."""
    from explainer.viz.frames import step_latents

    if not trace.previews:
        return None
    table = {}
    for row, pictures in trace.previews.items():
        for i in range(len(trace.steps)):
            table[step_latents(trace, i, row, 0).tobytes()] = pictures[i]

    def decode(latents) -> np.ndarray:
        z = np.asarray(latents, np.float32)
        try:
            return np.stack([table[z[k : k + 1].tobytes()] for k in range(len(z))])
        except KeyError:
            raise ValueError("these latents have no stored preview: only image 0's recorded "
                             "steps do; decode others with pipe.decode") from None

    return decode


def reproduce_command(metadata: dict, out: str = "report") -> str | None:
    """The ``explainer explain`` command that reruns this trace (None unless text-to-image)."""
    from explainer.schedulers import SCHEDULERS

    if metadata.get("mode") != "text-to-image" or not metadata.get("prompts"):
        return None
    names = {cls.__name__: name for name, cls in SCHEDULERS.items()}
    parts = ["explainer", "explain", metadata["prompts"][0], "--preset",
             metadata.get("preset") or "sd-v1-5"]
    if metadata.get("weights") and not metadata.get("weights_shipped"):
        parts += ["--weights", metadata["weights"]]
    parts += ["--seed", str(metadata["seeds"][0]), "--steps", str(metadata["num_steps"]),
              "--guidance", f"{metadata['guidance_scale']:g}"]
    if metadata.get("scheduler_name"):
        parts += ["--scheduler", metadata["scheduler_name"]]
    elif metadata.get("scheduler") in names:          # traces saved before the name was
        parts += ["--scheduler", names[metadata["scheduler"]]]
    negative = (metadata.get("negative_prompts") or [""])[0]
    if negative:
        parts += ["--negative", negative]
    parts += ["--size", f"{metadata['width']}x{metadata['height']}", "--out", out]
    return " ".join(shlex.quote(p) for p in parts)


class Report:
    """The page of one run; everything comes from ``trace`` (see the module docstring)."""

    def __init__(self, trace):
        if not getattr(trace, "steps", None) or trace.images is None:
            raise ValueError("the trace has no steps or no images; a report needs a finished "
                             "run (pipe.text_to_image(...).trace or Trace.load(path))")
        self.trace = trace
        self.meta = trace.metadata
        self.decode = preview_decoder(trace)

    # -- files -------------------------------------------------------------------------------

    def write(self, folder) -> Path:
        """Write index.html, denoising.gif and image.png into ``folder``; return index.html."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        gif = self.animation()
        (folder / "denoising.gif").write_bytes(gif)
        (folder / "image.png").write_bytes(_png(np.asarray(self.trace.images)[0]))
        page = folder / "index.html"
        page.write_text(self.html(gif), encoding="utf-8")
        return page

    def animation(self) -> bytes:
        """The GIF of x_t and x̂_0 over the steps (``viz.export_animation``), as bytes."""
        from explainer.viz import export_animation

        with tempfile.TemporaryDirectory() as tmp:
            path = export_animation(self.trace, Path(tmp) / "denoising.gif", self.decode)
            return path.read_bytes()

    def html(self, gif: bytes | None = None) -> str:
        gif = self.animation() if gif is None else gif
        prompt = (self.meta.get("prompts") or [self.trace.tokens[0].prompt])[0]
        parts = [self.tokens(), self.context(), self.schedule(), self.denoising(gif),
                 self.guidance(), self.attention(), self.image(), self.settings()]
        nav = " ".join(f'<a href="#{s}">{s}</a>' for s in SECTIONS)
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>explainer: {_e(prompt)}</title><style>{CSS}</style></head><body>\n"
                f"<h1>How Stable Diffusion drew “{_e(prompt)}”</h1>\n"
                "<p>Each section below is one stage of the pipeline, in the order the data "
                "flows: the prompt becomes tokens, the tokens a context, and the context steers "
                "the UNet as it removes noise step by step; the VAE turns the result into "
                f"pixels.</p>\n<nav>{nav}</nav>\n" + "\n".join(parts) + "\n</body></html>\n")

    # -- sections ----------------------------------------------------------------------------

    def tokens(self) -> str:
        from explainer.viz import token_rows
        from explainer.viz.tokens import KIND_COLOURS

        tokens = self.trace.tokens[0]
        rows = "".join(f'<tr style="background:{KIND_COLOURS[kind]}"><td>{_e(pos)}</td>'
                       f"<td><code>{_e(piece)}</code></td><td>{_e(ids)}</td><td>{kind}</td></tr>"
                       for pos, piece, ids, kind in token_rows(tokens))
        cut = (f" and cut off {len(tokens.truncated)} more (red rows): CLIP never sees them"
               if tokens.truncated else "")
        return _section("tokens", "1. Tokens: what CLIP reads", (
            f"<p>The prompt is split into {tokens.n_real - 2} byte-pair pieces, framed by a "
            f"start and an end token, and padded with {tokens.n_padding} more end tokens to "
            f"CLIP's 77 positions{cut}.</p><table><tr><th>pos</th><th>piece</th><th>id</th>"
            f"<th>kind</th></tr>{rows}</table>"))

    def context(self) -> str:
        from explainer.viz import context_heatmap

        c = np.asarray(self.trace.context)[0]                               # [77, C]
        fig = context_heatmap(c, self.trace.tokens[0])
        return _section("context", "2. Context: the text encoder's output", (
            f"<p>The text encoder turns the 77 tokens into a context c of 77 × {c.shape[1]} "
            "numbers, one row per position. The UNet reads it through cross-attention at "
            "every step. The padding rows are not blank: each has attended to the whole prompt "
            "(CLIP is causal: row k sees positions 0..k).</p>" +
            _figure(fig, "context c, one row per token position")))

    def schedule(self) -> str:
        from explainer.schedulers import make_scheduler
        from explainer.viz import schedule_curves

        config = self.meta.get("scheduler_config") or {}
        name = config.get("_class_name", "PNDMScheduler")
        fig = schedule_curves(make_scheduler(name, config), len(self.trace.steps))
        visited = ", ".join(f"{float(t):g}" for t in self.trace.timesteps)
        return _section("schedule", "3. Schedule: how much noise at each step", (
            f"<p>The {_e(self.meta.get('scheduler', name))} visits {len(self.trace.steps)} "
            f"of the {len(make_scheduler(name, config).alpha_bar)} training timesteps, from "
            f"noisiest to cleanest: {visited}.</p>" + _figure(fig, "ᾱ_t, σ_t and the visited "
                                                               "timesteps")))

    def denoising(self, gif: bytes) -> str:
        from explainer.viz import filmstrip

        how = ("decoded by the model's VAE when the run happened" if self.decode else
               "shown as latent channels 0-2 in colour (this trace stores no decoded previews)")
        fig = filmstrip(self.trace, self.decode)
        return _section("denoising", "4. Denoising: from noise to a picture", (
            f"<p>Top row: x_t, the latents entering each step; bottom row: x̂_0, the clean "
            f"picture the model predicts at that step, recognisable long before x_t is. Both "
            f"are {how}.</p>" + _figure(fig, "filmstrip: x_t over x̂_0") +
            f'<figure><img id="animation" class="anim" src="{_uri(gif, "image/gif")}" '
            'alt="animation of x_t and x̂_0 over the steps"><figcaption>every step, animated '
            "(x_t left, x̂_0 right), then the final image</figcaption></figure>"))

    def guidance(self) -> str:
        from explainer.viz import guidance_parts

        n = len(self.trace.steps)
        scale = float(self.meta.get("guidance_scale", 1.0))
        rescale = float(self.meta.get("guidance_rescale", 0.0))
        figures = []
        for i in sorted({0, n // 2, n - 1}):
            step = self.trace.steps[i]
            if step.eps_uncond is None or step.eps_text is None:
                figures.append(f"<p>step {i}: ε_uncond / ε_text were not kept in this trace.</p>")
                continue
            fig = guidance_parts(np.asarray(step.eps_uncond)[0], np.asarray(step.eps_text)[0],
                                 scale, channel=0, rescale=rescale)
            figures.append(_figure(fig, f"step {i} of {n} (t = {float(step.timestep):g}), "
                                        "latent channel 0"))
        return _section("guidance", "5. Guidance: what the prompt adds", (
            "<p>At every step the UNet predicts the noise twice, without the prompt (ε_uncond) "
            "and with it (ε_text). Their small difference is what the prompt contributes; "
            f"classifier-free guidance multiplies it by s = {scale:g}: "
            "ε̃ = ε_uncond + s·(ε_text − ε_uncond). Shown at the first, middle and last "
            "step.</p>" + "".join(figures)))

    def attention(self) -> str:
        title = "6. Attention: where each word is read"
        if not self.meta.get("atlas"):
            return _section("attention", title, (
                "<p>This run recorded no attention atlas. <code>explainer explain</code> records "
                "one (the prompt's tokens, every cross-attention layer and step); in Python: "
                "<code>pipe.text_to_image(..., capture_attention=AttentionCapture())</code>.</p>"))
        from explainer.explore.attention_atlas import AttentionAtlas
        from explainer.viz.attention_atlas import atlas_layer_tokens, atlas_token_grid

        atlas = AttentionAtlas(self.trace)
        words = [k for k in range(1, atlas.tokens.n_real - 1) if k in atlas.positions]
        layer = next((x for x in atlas.layers if x.startswith("up1_")),
                     next((x for x in atlas.layers if x.startswith("up")), atlas.layers[0]))
        figures = _figure(atlas_layer_tokens(atlas, layer), f"one layer ({layer}), every "
                          "token, averaged over the steps, over the final image")
        if words:  # the word this layer reads most, across every layer and step
            top = max(words, key=lambda k: atlas.shares(layer, atlas.steps[0])[
                atlas.positions.index(k)])
            figures += _figure(atlas_token_grid(atlas, top, max_steps=6),
                               f"{atlas.label(top)!r}: every layer (rows) at six steps")
        return _section("attention", title, (
            "<p>The UNet reads the prompt only through cross-attention: in each spatial "
            "transformer every latent pixel spreads one unit of attention over the 77 token "
            "positions, A = softmax(QKᵀ/√d). The maps show each token's attention against the "
            "uniform share 1/77 on one fixed scale (white: as much as an average token; red: "
            "more; blue: less), so a word that is hardly read looks hardly read.</p>" + figures))

    def image(self) -> str:
        picture = np.asarray(self.trace.images)[0]
        h, w = picture.shape[:2]
        return _section("image", "7. The image", (
            f"<p>The VAE decodes the final latents x_0 into {w} × {h} pixels (shown enlarged, "
            f'without smoothing).</p><figure><img class="pixels" src="{_uri(_png(picture))}" '
            f'alt="the final image"><figcaption>also saved as image.png</figcaption></figure>'))

    def settings(self) -> str:
        m = self.meta
        shown = {"mode": m.get("mode"), "preset": m.get("preset"),
                 "prompt": repr((m.get("prompts") or [""])[0]),
                 "negative prompt": repr((m.get("negative_prompts") or [""])[0]),
                 "seed": (m.get("seeds") or [None])[0], "steps": m.get("num_steps"),
                 "guidance scale": m.get("guidance_scale"),
                 "guidance rescale": m.get("guidance_rescale"),
                 "scheduler": m.get("scheduler"), "size": f"{m.get('width')} × {m.get('height')}",
                 "weights": m.get("weights")}
        shown.update({f"version: {k}": v for k, v in (m.get("versions") or {}).items()})
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in shown.items())
        command = reproduce_command(m)
        again = (f"<p>Run it again (same seed, same picture):</p><pre>{_e(command)}</pre>"
                 if command else f"<p>This run was {_e(m.get('mode'))}; the command line "
                 "reproduces text-to-image runs only.</p>")
        config = _e(", ".join(f"{k}={v!r}" for k, v in (m.get("scheduler_config") or {}).items()))
        return _section("settings", "7. Settings", (
            f"<table>{rows}</table>{again}<p>Scheduler config: <code>{config}</code></p>"
            "<p>Rebuild this page from the saved trace, without any model: "
            "<code>explainer replay trace.npz --out DIR</code></p>"))


# -- helpers ---------------------------------------------------------------------------------

def _e(value) -> str:
    return html.escape(str(value))


def _section(name: str, title: str, body: str) -> str:
    return f'<section id="{name}"><h2>{_e(title)}</h2>\n{body}\n</section>'


def _png(picture: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(picture, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _figure(fig, caption: str) -> str:
    from explainer.viz import figure_png

    return (f'<figure><img src="{_uri(figure_png(fig, dpi=DPI))}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")
