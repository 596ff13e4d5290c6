"""Two presets side by side: the same classes with other numbers, every figure from a config.

``facts_table()`` (tiny-shapes and SD v1.5, or any ``{name: config}``) prints sizes, shapes,
scale factors, parameter counts (``ParameterCounts``, counted, nothing built) and the run
defaults of each; lesson 00 prints it. Only the training data is not in a config: it is
``TRAINING_DATA``, with where each line comes from.
"""

from __future__ import annotations

from explainer.explore.parameter_counts import ParameterCounts
from explainer.models.configs import PipelineConfig

TRAINING_DATA = {   # not in any config: each preset's model card
    "sd-v1-5": "LAION-2B-en, then 595k steps on LAION-Aesthetics v2 5+ at 512² (its model card)",
    "tiny-shapes": "drawn shapes and scenes, 64² (explainer.drawn; assets/tiny-shapes/MODEL_CARD.md)",
}


def preset_facts(config: PipelineConfig) -> dict[str, str]:
    """One column of the table: label -> value, all read from ``config``."""
    t, u, v, s = config.text, config.unet, config.vae, config.scheduler
    side = u.sample_size * v.downscale
    counts = ParameterCounts.of(config)
    grids = [-(-u.sample_size // 2 ** k) for k in range(len(u.block_channels))]
    return {
        "image": f"{side}×{side}×3",
        "VAE factor f": f"{v.downscale} ({len(v.block_channels)} levels)",
        "latent x_T": f"{u.sample_size}×{u.sample_size}×{v.latent_channels}",
        "latent scale k": f"{v.scaling_factor:.5g}",
        "tokens × vocabulary": f"{t.max_positions} × {t.vocab_size:,}",
        "context c": f"{t.max_positions}×{t.width}",
        "text encoder": f"{t.layers} layers, {t.heads} heads",
        "UNet channels": " / ".join(str(c) for c in u.block_channels),
        "UNet grids": " / ".join(f"{g}²" for g in grids),
        "cross-attention at": " / ".join(f"{g}²" for g, a in zip(grids, u.attention_levels) if a)
                              + f" + middle {grids[-1]}²",
        "params: text encoder": f"{counts.total('text encoder'):,}",
        "params: UNet": f"{counts.total('UNet'):,}",
        "params: VAE": f"{counts.total('VAE'):,}",
        "params: all three": f"{counts.total():,}",
        "noise schedule": f"{s.get('beta_schedule')}, T = {s.get('num_train_timesteps')}",
        "β from … to": f"{s.get('beta_start')} … {s.get('beta_end')}",
        "default run": f"{s.get('_class_name', '').removesuffix('Scheduler')}, "
                       f"{config.default_steps} steps, s = {config.default_guidance:g}",
        "training data": TRAINING_DATA.get(config.name or "", "(not recorded)"),
    }


def resolved(name: str) -> PipelineConfig:
    """A preset as a pipeline would run it: with its shipped folder's own configs (tiny-shapes'
    latent scale k is in its vae/config.json), or the preset itself when nothing ships."""
    from explainer.assets import asset_path
    from explainer.models.configs import PRESETS
    from explainer.weights.loader import read_pipeline_config

    preset = PRESETS[name]
    return preset if preset.assets is None else read_pipeline_config(asset_path(preset.assets), preset)


def facts_table(configs: dict[str, PipelineConfig] | None = None) -> str:
    """The presets' facts in columns, one row per fact (plain text, deterministic); by default
    tiny-shapes and SD v1.5, each ``resolved``."""
    configs = configs or {name: resolved(name) for name in ("tiny-shapes", "sd-v1-5")}
    columns = {name: preset_facts(c) for name, c in configs.items()}
    labels = list(next(iter(columns.values())))
    widths = {name: max(len(name), *(len(col[k]) for k in labels if k != "training data"))
              for name, col in columns.items()}
    lines = [f"{'':22}" + "  ".join(f"{n:>{widths[n]}}" for n in columns)]
    for label in labels:
        if label == "training data":
            continue
        lines.append(f"{label:22}" + "  ".join(f"{columns[n][label]:>{widths[n]}}" for n in columns))
    lines += ["training data:"] + [f"  {n}: {col['training data']}" for n, col in columns.items()]
    return "\n".join(lines)
