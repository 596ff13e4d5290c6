"""Pictures of a run: functions that take parts of a Trace (numpy arrays) and return figures.

Every plot returns a ``matplotlib.figure.Figure`` and leaves pyplot's global state alone
(the figure is closed in pyplot, so a notebook shows it once, as the cell's result).

| stage            | plot                                                              |
|------------------|-------------------------------------------------------------------|
| tokenize         | ``token_table(tokens)``                                           |
| encode           | ``context_heatmap(c, tokens)``, ``context_difference(c_a, c_b)``, |
|                  | ``per_token_distance(c_a, c_b)`` (numbers)                        |
| CLIP's training  | ``contrastive_targets(images, captions)``                         |
| latents, ε       | ``latent_channels(z)``                                            |
| the UNet         | ``unet_diagram(UNetArchitecture(config))`` (the U, from a config), |
|                  | ``feature_maps(features)``, ``level_maps`` (one call's levels),   |
|                  | ``timestep_features(config)`` (emb(t)'s sinusoids)                |
| guidance         | ``guidance_parts(eps_uncond, eps_text, s)``, ``guidance_mix(...)`` |
| scheduler        | ``schedule_curves(schedulers, num_steps)``                        |
| the loop         | ``filmstrip(trace, decode)``, ``render_step(trace, i, decode)``   |
| decode, fast     | ``LatentPreview.for_pipeline(pipe)``                              |
| export           | ``export_animation(trace, "run.gif", decode)``                    |
| explore          | ``step_player``, ``guidance_remix``, ``generation_controls``      |
| cross-attention  | ``attention_grid(trace)``, ``render_attention(trace, step, word)``,|
|                  | ``attention_shares(trace)``, ``attention_explorer(trace)``,       |
|                  | ``attention_side_by_side([(trace_a, word_a), (trace_b, word_b)])``|
| attention atlas  | ``attention_atlas.atlas_token_grid(atlas, word)``,                |
|                  | ``atlas_layer_tokens(atlas, layer)``, ``faithfulness_plot(...)``  |
| trajectories     | ``trajectory_plot(LatentTrajectory([...]))``                      |
| keyword A/B      | ``comparison_plot(compare(pipe, a, b, seed))``                    |
| samples, training| ``image_grid(images, titles)``, ``loss_curve(losses)``            |

Importing this module is light: matplotlib loads when the first figure is made, ipywidgets
when the first widget is built, TensorFlow never (only a pipeline needs it).
"""

from explainer.viz.animation import animation_frames, export_animation
from explainer.viz.attention import (attention_grid, attention_shares, attention_side_by_side,
                                     render_attention)
from explainer.viz.attention_explorer import attention_explorer
from explainer.viz.comparison import comparison_plot
from explainer.viz.contrastive import contrastive_targets
from explainer.viz.context import (context_difference, context_heatmap, first_difference,
                                   per_token_distance)
from explainer.viz.curves import loss_curve
from explainer.viz.figure import figure_png, new_figure
from explainer.viz.filmstrip import filmstrip, render_step
from explainer.viz.frames import channels_as_rgb
from explainer.viz.grids import image_grid
from explainer.viz.guidance import guidance_mix, guidance_parts
from explainer.viz.latent_preview import LatentPreview
from explainer.viz.latents import latent_channels
from explainer.viz.schedules import chosen_timesteps, schedule_curves, spacing_of
from explainer.viz.tokens import token_rows, token_table
from explainer.viz.trajectory import trajectory_plot
from explainer.viz.unet_diagram import unet_diagram
from explainer.viz.unet_features import feature_maps, level_maps, timestep_features
from explainer.viz.widgets import generation_controls, guidance_remix, step_player

__all__ = [
    "LatentPreview", "animation_frames", "attention_explorer", "attention_grid",
    "attention_shares", "attention_side_by_side", "comparison_plot", "render_attention", "trajectory_plot", "channels_as_rgb", "chosen_timesteps",
    "context_difference", "context_heatmap", "contrastive_targets", "export_animation",
    "feature_maps", "figure_png", "filmstrip", "first_difference", "generation_controls",
    "guidance_mix", "guidance_parts", "guidance_remix", "image_grid", "latent_channels",
    "level_maps", "loss_curve", "new_figure", "per_token_distance", "render_step",
    "schedule_curves", "spacing_of", "step_player", "timestep_features", "token_rows",
    "token_table", "unet_diagram",
]
