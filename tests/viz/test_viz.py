"""viz: each plot draws the data it was given, refuses bad input clearly; exports and widgets work.

Most tests use a Trace built by hand (fast, no TensorFlow); the pipeline-backed ones use the
random-weight small model from conftest.py.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import explainer
from explainer.diffusion.guidance import apply_guidance
from explainer.schedulers import make_scheduler, sigmas_from
from explainer.diffusion.trace import StepRecord, Trace
from explainer.viz import (LatentPreview, animation_frames, channels_as_rgb, context_difference,
                           context_heatmap, export_animation, filmstrip, first_difference,
                           generation_controls, guidance_mix, guidance_parts, guidance_remix,
                           image_grid, latent_channels, loss_curve, per_token_distance,
                           render_step, schedule_curves, step_player, token_rows, token_table)

STEPS, H, W, F = 5, 8, 8, 8   # synthetic trace: 5 steps of [1, 8, 8, 4] latents, VAE factor 8


def _images_axes(fig):
    """The axes that show an image (colorbars are axes too)."""
    return [ax for ax in fig.axes if ax.images]


@pytest.fixture(scope="module")
def preview():
    """A hand-made linear decoder: the synthetic trace's ``decode``."""
    weights = np.array([[0.3, 0.0, 0.0], [0.0, 0.3, 0.0], [0.0, 0.0, 0.3], [0.1, 0.1, 0.1]])
    return LatentPreview(weights, [0.5, 0.5, 0.5], factor=F)


@pytest.fixture(scope="module")
def trace():
    rng = np.random.default_rng(0)
    tokens = explainer.tokenize("a small red circle on the left")
    steps = []
    x = rng.standard_normal((1, H, W, 4)).astype(np.float32)
    for i, t in enumerate(np.linspace(999, 0, STEPS).round().astype(int)):
        eps_u = rng.standard_normal(x.shape).astype(np.float32)
        eps_t = eps_u + 0.1 * rng.standard_normal(x.shape).astype(np.float32)
        eps = apply_guidance(eps_u, eps_t, 7.5)
        pred_x0 = (x - 0.5 * eps).astype(np.float32)
        out = (0.8 * x + 0.2 * pred_x0).astype(np.float32)
        steps.append(StepRecord(i, int(t), {"alpha_bar_t": 0.5}, x, eps_u, eps_t, eps, pred_x0,
                                out))
        x = out
    images = rng.integers(0, 256, (1, H * F, W * F, 3), dtype=np.uint8)
    return Trace(metadata={"scheduler": "DDIMScheduler"}, tokens=[tokens],
                 context=rng.standard_normal((1, 77, 16)).astype(np.float32), steps=steps,
                 final_latents=x, images=images)


# -- importing ---------------------------------------------------------------------------------

def test_import_is_light():
    code = ("import sys, explainer.viz; heavy = [m for m in ('tensorflow', 'ipywidgets', "
            "'matplotlib') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- tokens and context ------------------------------------------------------------------------

def test_token_table_lists_pieces_ids_and_padding(trace):
    tokens = trace.tokens[0]
    fig = token_table(tokens)
    cells = fig.axes[0].tables[0].get_celld()
    assert cells[(0, 1)].get_text().get_text() == "piece"
    real = tokens.n_real
    for k in range(real + 1):                              # real rows and the first padding
        assert cells[(k + 1, 1)].get_text().get_text() == tokens.pieces[k]
        assert cells[(k + 1, 2)].get_text().get_text() == str(tokens.ids[k])
    kinds = [cells[(k + 1, 3)].get_text().get_text() for k in range(real + 2)]
    assert kinds == ["special"] + ["word"] * (real - 2) + ["special", "padding", "more"]
    assert cells[(real + 2, 1)].get_text().get_text() == f"{77 - real - 1} more"
    assert len(token_rows(tokens, show="all")) == 77


def test_token_table_shows_the_truncated_tail():
    with pytest.warns(explainer.PromptTruncatedWarning):
        tokens = explainer.tokenize("red " * 80)
    rows = token_rows(tokens)
    cut = [r for r in rows if r[3] == "truncated"]
    assert len(cut) == len(tokens.truncated) == 5
    assert cut[0][0] == "77" and cut[0][1] == "red"
    assert "5 truncated" in token_table(tokens).axes[0].get_title()


def test_token_table_refuses_bad_input(trace):
    with pytest.raises(TypeError, match="explainer.tokenize"):
        token_table("a red circle")
    with pytest.raises(ValueError, match=r"tokens\[0\]"):
        token_table(trace.tokens * 2)
    with pytest.raises(ValueError, match="show="):
        token_table(trace.tokens[0], show=0)


def test_context_heatmap_shows_the_context(trace):
    fig = context_heatmap(trace.context, trace.tokens[0])
    ax = _images_axes(fig)[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), trace.context[0])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:3] == ["0 <|startoftext|>", "1 a", "2 small"]
    assert labels[trace.tokens[0].n_real] == "9 padding from here"
    with pytest.raises(ValueError, match=r"context\[k\]"):
        context_heatmap(np.zeros((2, 77, 16)))
    with pytest.raises(ValueError, match=r"\[77, C\]"):
        context_heatmap(np.zeros(77))


def test_context_difference_bars_are_per_token_distances(trace):
    tokens_a = explainer.tokenize("a small red circle")
    tokens_b = explainer.tokenize("a small blue circle")
    assert first_difference(tokens_a, tokens_b) == 3
    rng = np.random.default_rng(1)
    a = rng.standard_normal((77, 16)).astype(np.float32)
    b = a.copy()
    b[3:] += rng.standard_normal((74, 16)).astype(np.float32)   # causal: same before position 3
    distance = per_token_distance(a[None], b)
    assert distance.shape == (77,)
    np.testing.assert_array_equal(distance[:3], 0)
    assert np.all(distance[3:] > 0)
    fig = context_difference(a, b, tokens_a, tokens_b)
    heights = [bar.get_height() for bar in fig.axes[0].containers[0]]
    np.testing.assert_allclose(heights, distance)
    assert "small" in [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert "red / blue" in [t.get_text() for t in fig.axes[0].get_xticklabels()]
    with pytest.raises(ValueError, match="same shape"):
        per_token_distance(a, b[:, :8])


# -- latents and guidance ----------------------------------------------------------------------

def test_latent_channels_draws_each_channel(trace):
    x = trace.steps[2].latents_in
    fig = latent_channels(x, title="x_t", diverging=True)
    panels = _images_axes(fig)
    assert len(panels) == 4 and len(fig.axes) == 8            # 4 maps + 4 colorbars
    for k, ax in enumerate(panels):
        np.testing.assert_array_equal(ax.images[0].get_array(), x[0, ..., k])
        assert ax.get_title().startswith(f"channel {k}")
        vmin, vmax = ax.images[0].get_clim()
        assert vmin == -vmax                                  # diverging: centred at 0
    with pytest.raises(ValueError, match=r"\[h, w, C\]"):
        latent_channels(np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"latents\[k\]"):
        latent_channels(np.zeros((3, 8, 8, 4)))
    with pytest.raises(TypeError, match="numeric"):
        latent_channels(None)


def test_guidance_parts_shows_uncond_text_difference_and_mix(trace):
    step = trace.steps[1]
    fig = guidance_parts(step.eps_uncond, step.eps_text, 7.5)
    panels = _images_axes(fig)
    assert len(panels) == 16                                  # 4 channels x 4 parts
    guided = apply_guidance(step.eps_uncond, step.eps_text, 7.5)[0]
    for c in range(4):
        row = panels[4 * c : 4 * c + 4]
        np.testing.assert_array_equal(row[0].images[0].get_array(), step.eps_uncond[0, ..., c])
        np.testing.assert_array_equal(row[1].images[0].get_array(), step.eps_text[0, ..., c])
        np.testing.assert_allclose(row[2].images[0].get_array(),
                                   (step.eps_text - step.eps_uncond)[0, ..., c])
        np.testing.assert_allclose(row[3].images[0].get_array(), guided[..., c])
    assert "s = 7.5" in panels[3].get_title()
    one = guidance_parts(step.eps_uncond, step.eps_text, 3.0, channel=2)
    assert len(_images_axes(one)) == 4
    with pytest.raises(ValueError, match="channel="):
        guidance_parts(step.eps_uncond, step.eps_text, 3.0, channel=4)
    with pytest.raises(ValueError, match="same shape"):
        guidance_parts(step.eps_uncond, step.eps_text[..., :3], 3.0)
    with pytest.raises(ValueError, match="finite"):
        guidance_parts(step.eps_uncond, step.eps_text, float("nan"))


def test_guidance_mix_one_panel_per_scale(trace):
    step = trace.steps[1]
    fig = guidance_mix(step.eps_uncond, step.eps_text, scales=(1, 3, 7.5), channel=1)
    panels = _images_axes(fig)
    assert [ax.get_title().split("\n")[0] for ax in panels] == ["s = 1", "s = 3", "s = 7.5"]
    for ax, s in zip(panels, (1, 3, 7.5)):
        np.testing.assert_allclose(ax.images[0].get_array(),
                                   apply_guidance(step.eps_uncond, step.eps_text, s)[0, ..., 1])
    assert len({ax.images[0].get_clim() for ax in panels}) == 1   # one shared colour scale


# -- schedules ---------------------------------------------------------------------------------

def test_schedule_curves_plot_the_schedulers_numbers():
    ddim, euler = make_scheduler("ddim"), make_scheduler("euler")
    fig = schedule_curves([ddim, euler], num_steps=10)
    ax_ab, ax_sigma, ax_steps = fig.axes
    np.testing.assert_array_equal(ax_ab.lines[0].get_ydata(), ddim.alpha_bar)
    np.testing.assert_array_equal(ax_sigma.lines[0].get_ydata(), sigmas_from(ddim.alpha_bar))
    assert ax_sigma.get_yscale() == "log"
    reference = make_scheduler("euler")
    reference.set_timesteps(10)
    np.testing.assert_array_equal(ax_steps.lines[1].get_xdata(), reference.timesteps)
    assert len(ax_steps.lines[0].get_xdata()) == 10
    assert ddim.timesteps is None and euler.timesteps is None     # the inputs were not changed
    assert len(schedule_curves("ddim").axes[2].lines[0].get_xdata()) == 50   # never set: 50
    with pytest.raises(ValueError, match="unknown scheduler"):
        schedule_curves("ddpm")
    with pytest.raises(TypeError, match="not a scheduler"):
        schedule_curves([ddim, 3])


# -- the loop as pictures ----------------------------------------------------------------------

def test_filmstrip_columns_are_steps_rows_are_decoded_tensors(trace, preview):
    fig = filmstrip(trace, preview, every=2)
    shown = [0, 2, 4]
    axes = fig.axes
    assert len(axes) == 2 * len(shown)
    assert [ax.get_title() for ax in axes[:3]] == [f"step {i} · t={trace.steps[i].timestep}"
                                                   for i in shown]
    assert axes[0].get_ylabel() == "x_t" and axes[3].get_ylabel() == "x̂_0"
    for c, i in enumerate(shown):
        np.testing.assert_array_equal(axes[c].images[0].get_array(),
                                      preview(trace.steps[i].latents_in)[0])
        np.testing.assert_array_equal(axes[3 + c].images[0].get_array(),
                                      preview(trace.steps[i].pred_x0)[0])
    assert len(filmstrip(trace, None).axes) == 2 * STEPS    # no decoder: channels as colours
    with pytest.raises(ValueError, match="rows="):
        filmstrip(trace, preview, rows=("x_t",))
    with pytest.raises(ValueError, match="image=1"):
        filmstrip(trace, preview, image=1)
    with pytest.raises(TypeError, match="decode"):
        filmstrip(trace, 3)


def test_render_step_shows_the_steps_tensors(trace, preview):
    fig = render_step(trace, 3, preview, channel=2)
    assert fig.texts[0].get_text().startswith("step 3 · t=")
    panels = _images_axes(fig)
    np.testing.assert_array_equal(panels[0].images[0].get_array(),
                                  preview(trace.steps[3].latents_in)[0])
    np.testing.assert_array_equal(panels[4].images[0].get_array(),
                                  trace.steps[3].eps[0, ..., 2])
    lean = Trace(steps=[StepRecord(0, 999, {}, latents_in=trace.steps[0].latents_in)])
    texts = [t.get_text() for ax in render_step(lean, 0, preview).axes for t in ax.texts]
    assert texts.count("not kept") == 4
    with pytest.raises(ValueError, match="outside"):
        render_step(trace, STEPS, preview)


def test_sigma_space_latents_are_shown_at_unit_variance(trace):
    from explainer.viz.frames import step_latents

    step = StepRecord(0, 999, {"sigma_t": 14.6}, latents_in=trace.steps[0].latents_in * 14.6)
    sigma_trace = Trace(metadata={"scheduler": "EulerScheduler"}, steps=[step])
    np.testing.assert_allclose(step_latents(sigma_trace, 0, "latents_in"),
                               step.latents_in / np.sqrt(14.6 ** 2 + 1), rtol=1e-6)


# -- export ------------------------------------------------------------------------------------

def test_export_gif(trace, preview, tmp_path):
    path = export_animation(trace, tmp_path / "run.gif", preview, fps=5)
    assert path == tmp_path / "run.gif"
    with Image.open(path) as gif:
        assert gif.n_frames == STEPS + 1                    # every step, then the final image
        assert min(gif.size) >= 256                         # 64 px pictures upscaled
        durations = []
        for k in range(gif.n_frames):
            gif.seek(k)
            durations.append(gif.info["duration"])
    assert durations[0] == 200 and durations[-1] == 800     # the final frame is held
    frames = animation_frames(trace, preview, every=2)
    assert len(frames) == 3 + 1
    first = frames[0, 20:]                                  # below the caption strip
    np.testing.assert_array_equal(first[:256, :256][::4, ::4],
                                  preview(trace.steps[0].latents_in)[0])


def test_animation_keeps_the_aspect_ratio(preview):
    z = np.zeros((1, 8, 12, 4), np.float32)                 # a 64 x 96 picture
    wide = Trace(steps=[StepRecord(0, 999, {}, latents_in=z, pred_x0=z)], final_latents=z)
    frames = animation_frames(wide, preview)
    assert frames.shape == (2, 20 + 256, 2 * 384 + 4, 3)    # x4 to reach 256 px; + caption


def test_export_checks_before_working(trace, preview, tmp_path):
    calls = []

    def counting_decode(z):
        calls.append(len(z))
        return preview(z)

    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        export_animation(trace, tmp_path / "run.avi", counting_decode)
    with pytest.raises(ValueError, match="fps"):
        export_animation(trace, tmp_path / "run.gif", counting_decode, fps=0)
    with pytest.raises(ValueError, match="rows="):
        export_animation(trace, tmp_path / "run.gif", counting_decode, rows=("noise",))
    assert calls == [] and not list(tmp_path.iterdir())


def test_export_mp4_or_a_clear_error(trace, preview, tmp_path):
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match=r"pip install imageio\[ffmpeg\]"):
            export_animation(trace, tmp_path / "run.mp4", preview)
        assert not (tmp_path / "run.mp4").exists()
    else:
        path = export_animation(trace, tmp_path / "run.mp4", preview)
        assert path.stat().st_size > 1000


# -- LatentPreview -------------------------------------------------------------------------------

class _LinearDecoderPipe:
    """A stand-in pipeline whose decoder is linear per f x f patch plus a zero-mean pattern
    inside each patch: a least-squares fit with area averaging must recover W and b exactly
    (subsampling instead of averaging would shift b by the pattern)."""

    latent_factor = 4

    def __init__(self):
        self.W = np.array([[0.08, -0.04, 0.06], [0.0, 0.09, -0.02], [-0.06, 0.02, 0.08],
                           [0.04, 0.04, -0.05]])
        self.b = np.array([0.45, 0.5, 0.55])

    def encode_image(self, images):
        x = images.astype(np.float32) / 255.0                              # [N, H, W, 3]
        n, h, w = x.shape[0], x.shape[1] // 4, x.shape[2] // 4
        patches = x.reshape(n, h, 4, w, 4, 3).mean(axis=(2, 4))            # [N, h, w, 3]
        return np.concatenate([patches, patches[..., :1] - patches[..., 1:2]], axis=-1) * 3 - 1

    def decode(self, z):
        rgb = z @ self.W + self.b                                          # [B, h, w, 3]
        rgb = rgb.repeat(4, axis=1).repeat(4, axis=2)                      # [B, H, W, 3]
        pattern = np.where((np.indices((4, 4)).sum(0) % 2) == 0, 0.02, -0.02)
        rgb = rgb + np.tile(pattern, (z.shape[1], z.shape[2]))[None, ..., None]
        return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def test_latent_preview_recovers_a_linear_decoder():
    pipe = _LinearDecoderPipe()
    fitted = LatentPreview.fit(pipe, n=6, noise_levels=(0.0, 1.0))
    np.testing.assert_allclose(fitted.weights, pipe.W, atol=2e-3)   # uint8 rounding: 0.5/255
    np.testing.assert_allclose(fitted.bias, pipe.b, atol=2e-3)
    quality = fitted.evaluate(pipe, n=4, noise_levels=(0.5,))
    assert quality["mae_preview_native"] < 1.0                      # uint8 rounding only
    assert quality["mae_constant_native"] > 10
    assert quality["mae_preview"] < 0.3 * quality["mae_constant"]
    z = np.random.default_rng(0).standard_normal((2, 5, 3, 4)).astype(np.float32)
    assert fitted(z).shape == (2, 20, 12, 3) and fitted(z, upsample=False).shape == (2, 5, 3, 3)
    again = LatentPreview.from_dict(fitted.to_dict())
    np.testing.assert_array_equal(again(z), fitted(z))
    assert again.quality == quality
    with pytest.raises(ValueError, match=r"\[B, h, w, 4\]"):
        fitted(np.zeros((2, 5, 5, 3)))


@pytest.fixture(scope="module")
def pipe(small_folder):
    return explainer.load_pipeline(weights=small_folder)


def test_latent_preview_fits_a_pipeline(pipe, tmp_path):
    fitted = LatentPreview.for_pipeline(pipe, n=4)
    assert LatentPreview.for_pipeline(pipe) is fitted                # cached per pipeline
    assert fitted.factor == pipe.latent_factor == 2
    z = pipe.initial_noise(0)                                        # [1, 16, 16, 4]
    exact, fast = pipe.decode(z), fitted(z)
    assert fast.shape == exact.shape and fast.dtype == np.uint8
    quality = fitted.evaluate(pipe, n=4)
    assert quality["mae_preview_native"] <= quality["mae_constant_native"] * 1.1
    # A random-weight decoder is barely linear, so only the weak bar here: closer than grey.
    from explainer.shapes import ShapesDataset

    z = pipe.encode_image(ShapesDataset(seed=3).batch(0, 4)[0])
    exact = pipe.decode(z).astype(float)
    assert np.abs(fitted(z) - exact).mean() < np.abs(128 - exact).mean()
    loaded = LatentPreview.load(fitted.save(tmp_path / "preview.json"))
    np.testing.assert_array_equal(loaded(z), fitted(z))


# -- widgets -----------------------------------------------------------------------------------

def test_step_player_renders_the_chosen_step(trace, preview):
    player = step_player(trace, preview)
    assert player.last_index == 0 and player.slider.max == STEPS - 1
    first = player.image.value
    player.slider.value = 3
    assert player.last_index == 3
    assert player.image.value != first and player.image.value[:4] == b"\x89PNG"
    assert player.last.texts[0].get_text().startswith("step 3 ")
    assert player.caption.value.startswith("step 3 · t=")
    player.slider.value = 0
    assert player.image.value == first                              # same step, same picture
    assert player.last_index == 0 and player.last.texts[0].get_text().startswith("step 0 ")


def test_guidance_remix_recombines_without_the_unet(trace):
    step = trace.steps[2]
    remix = guidance_remix(step, scale=7.5, channel=0)
    before = remix.image.value
    remix.slider.value = 3.0
    assert remix.last_scale == 3.0 and remix.image.value != before
    guided_panel = _images_axes(remix.last)[3]
    np.testing.assert_allclose(guided_panel.images[0].get_array(),
                               apply_guidance(step.eps_uncond, step.eps_text, 3.0)[0, ..., 0])
    pair = guidance_remix((step.eps_uncond, step.eps_text), scale=1.0, channel=None)
    assert len(_images_axes(pair.last)) == 16
    with pytest.raises(TypeError, match="StepRecord"):
        guidance_remix(step.eps_uncond)
    with pytest.raises(ValueError, match="keep="):
        guidance_remix(StepRecord(0, 999))


def test_generation_controls_rerun_and_refresh(pipe):
    controls = generation_controls(pipe, "a red circle", seed=1, guidance_scale=3.0,
                                   num_steps=2, scheduler="ddim")
    first = controls.result.images
    assert controls.runs == 1 and controls.player.slider.max == 1
    controls.seed.value = 2
    controls.guidance.value = 5.0
    controls.button.click()
    assert controls.runs == 2
    assert controls.result.trace.metadata["seeds"] == [2]
    assert controls.result.trace.metadata["guidance_scale"] == 5.0
    assert not np.array_equal(controls.result.images, first)
    assert controls.player.trace is controls.result.trace


# -- the helpers that were there before ------------------------------------------------------------

def test_image_grid_and_loss_curve():
    images = np.zeros((3, 8, 8, 3), np.uint8)
    fig = image_grid(images, titles=["a", "b", "c"], columns=2)
    assert len(_images_axes(fig)) == 3
    assert [ax.get_xlabel() for ax in _images_axes(fig)] == ["a", "b", "c"]   # under each image
    assert channels_as_rgb(np.zeros((1, 2, 2, 4))).tolist() == [[[[128] * 3] * 2] * 2]
    curve = loss_curve(np.linspace(1, 0, 30), smooth=5)
    np.testing.assert_allclose(curve.axes[0].lines[0].get_ydata(), np.linspace(1, 0, 30))
    with pytest.raises(ValueError, match="1-D"):
        loss_curve([])
