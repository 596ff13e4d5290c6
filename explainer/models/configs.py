"""Model configs as dataclasses, and the named presets.

``sd-v1-5`` and (from the tiny-shapes issue) ``tiny-shapes`` are two configs of the same
classes: a model never branches on a preset's name. The values for ``sd-v1-5`` are the ones in
the published SD v1.5 ``config.json`` files (text_encoder/, unet/, vae/).

Reading a diffusers folder's own ``config.json`` files into these dataclasses is done in
``explainer/weights/configs.py``, next to the rest of the checkpoint-format knowledge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class TextEncoderConfig:
    """CLIP text transformer. SD v1.5 uses CLIP ViT-L/14's: width 768, 12 layers, 12 heads."""

    vocab_size: int = 49408
    width: int = 768  # d_model; the context is [B, 77, width]
    layers: int = 12
    heads: int = 12
    mlp_width: int = 3072
    max_positions: int = 77
    activation: str = "quick_gelu"  # x * sigmoid(1.702 x), as CLIP was trained
    norm_eps: float = 1e-5

    def get_config(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class UNetConfig:
    """Conditional UNet predicting noise eps from (x_t, t, context). SD v1.5 values by default.

    ``attention_levels[i]`` says whether resolution level ``i`` has spatial transformers
    (diffusers' CrossAttnDownBlock2D) or only ResNet blocks (DownBlock2D). ``heads`` is one
    number per level (SD v1 uses 8 heads everywhere; diffusers calls this attention_head_dim).
    """

    in_channels: int = 4
    out_channels: int = 4
    block_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    attention_levels: tuple[bool, ...] = (True, True, True, False)
    layers_per_block: int = 2
    heads: tuple[int, ...] = (8, 8, 8, 8)
    transformer_depth: int = 1  # BasicTransformerBlocks per spatial transformer
    context_width: int = 768  # cross-attention's key/value input: the text encoder's width
    norm_groups: int = 32
    norm_eps: float = 1e-5
    flip_sin_to_cos: bool = True
    freq_shift: float = 0.0
    sample_size: int = 64  # latent side for the default image size (x 8 = 512 px)

    def __post_init__(self):
        n = len(self.block_channels)
        if len(self.attention_levels) != n or len(self.heads) != n:
            raise ValueError(
                f"UNetConfig: block_channels {self.block_channels}, attention_levels "
                f"{self.attention_levels} and heads {self.heads} must have one entry per level"
            )

    @property
    def time_width(self) -> int:
        """Width of the timestep embedding MLP: 4 x the first block's channels (1280 for SD)."""
        return 4 * self.block_channels[0]

    @property
    def downscale(self) -> int:
        """How much the latent grid shrinks at the bottom (8 for four levels)."""
        return 2 ** (len(self.block_channels) - 1)

    def get_config(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VAEConfig:
    """The autoencoder (AutoencoderKL): f = 2^(levels-1) = 8 for SD, 4 latent channels."""

    in_channels: int = 3
    out_channels: int = 3
    latent_channels: int = 4
    block_channels: tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    norm_groups: int = 32
    norm_eps: float = 1e-6
    scaling_factor: float = 0.18215  # latents are scaled to roughly unit variance
    mid_attention: bool = True
    sample_size: int = 512  # image side the VAE was trained at

    @property
    def downscale(self) -> int:
        """Image pixels per latent pixel along each side (f = 8 for SD v1.5)."""
        return 2 ** (len(self.block_channels) - 1)

    def get_config(self) -> dict:
        return asdict(self)


# SD v1.5's scheduler/scheduler_config.json: PNDM (PLMS) on the scaled-linear schedule.
SD15_SCHEDULER = {"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
                  "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
                  "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                  "trained_betas": None, "clip_sample": False}


@dataclass(frozen=True)
class PipelineConfig:
    """One model, resolved: its three networks, its noise schedule (a scheduler_config.json),
    where its weights come from and a run's defaults. A preset is one; the loader resolves
    the one a pipeline reads (the folder's configs, the preset's defaults)."""

    name: str | None = None  # the preset's name; None for a folder loaded on its own
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    scheduler: dict = field(default_factory=lambda: dict(SD15_SCHEDULER))  # a scheduler_config.json
    repo_id: str | None = None  # the Hugging Face repository the download helper fetches
    assets: str | None = None  # a folder in assets/ that ships the weights (no download)
    default_steps: int = 50
    default_guidance: float = 7.5
    # the word maps' default (explore/attention_maps.py), (level, steps): None sums every level
    # and step (DAAM); tiny-shapes' was measured against true masks (shapes/faithfulness.py)
    word_maps: tuple[str, str] | None = None

    def get_config(self) -> dict:
        return asdict(self)


PRESETS: dict[str, PipelineConfig] = {
    "sd-v1-5": PipelineConfig(name="sd-v1-5", repo_id="stable-diffusion-v1-5/stable-diffusion-v1-5"),
    # Trained by this project on drawn shapes (explainer/shapes/, assets/tiny-shapes/MODEL_CARD.md):
    # 64x64 images, 8x8x4 latents; the real CLIP tokenizer; the SD v1 noise schedule.
    "tiny-shapes": PipelineConfig(
        name="tiny-shapes", text=TextEncoderConfig(width=64, layers=2, heads=4, mlp_width=256),
        unet=UNetConfig(block_channels=(64, 128, 128), attention_levels=(True, True, False),
                        layers_per_block=1, heads=(4, 4, 4), context_width=64, norm_groups=16,
                        sample_size=8),
        vae=VAEConfig(block_channels=(16, 32, 64, 64), layers_per_block=1, norm_groups=8,
                      sample_size=64),
        assets="tiny-shapes", default_steps=25, default_guidance=2.0,
        word_maps=("finest", "second half")),
}
