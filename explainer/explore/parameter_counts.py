"""How many parameters each of a pipeline's three networks has, per part, from its config.

``ParameterCounts.of(PRESETS["sd-v1-5"])`` counts SD v1.5's text encoder, UNet and VAE
without building them (block_parameters.py has the per-block sums; the UNet's come from
``UNetArchitecture``). ``side_by_side({...})`` prints several pipelines in columns.

| network       | parts                                                                 |
|---------------|-----------------------------------------------------------------------|
| text encoder  | token embedding, position embedding, transformer blocks, final norm  |
| UNet          | time embedding, down path, middle, up path, in/out convs              |
| VAE           | encoder, quant_conv, post_quant_conv, decoder (the 1×1 convs around    |
|               | the latent: 2·4 moments -> 2·4, 4 -> 4)                                |
"""

from __future__ import annotations

from dataclasses import dataclass

from explainer.explore import block_parameters as P
from explainer.explore.unet_architecture import UNetArchitecture
from explainer.models.configs import PipelineConfig, TextEncoderConfig, VAEConfig


def text_encoder_parts(config: TextEncoderConfig) -> dict[str, int]:
    """The CLIP text encoder's parameters: embeddings, ``layers`` blocks, the final LayerNorm."""
    c = config
    return {"token embedding": c.vocab_size * c.width,
            "position embedding": c.max_positions * c.width,
            "transformer blocks": c.layers * P.text_encoder_block(c.width, c.mlp_width),
            "final norm": P.norm(c.width)}


def _vae_middle(width: int, config: VAEConfig) -> int:
    """ResNet, (one-head attention), ResNet at the lowest resolution."""
    return (2 * P.resnet_block(width, width)
            + (P.vae_attention(width) if config.mid_attention else 0))


def vae_parts(config: VAEConfig) -> dict[str, int]:
    """The VAE's parameters: encoder, the two 1×1 convs around the latent, decoder."""
    c, ch = config, config.block_channels
    moments = 2 * c.latent_channels                               # μ and log σ², 4 channels each
    encoder, width = P.conv(c.in_channels, ch[0]), ch[0]
    for i, out in enumerate(ch):                                   # down
        for _ in range(c.layers_per_block):
            encoder, width = encoder + P.resnet_block(width, out), out
        encoder += P.resample(out) if i < len(ch) - 1 else 0
    encoder += _vae_middle(width, c) + P.norm(width) + P.conv(width, moments)
    decoder = P.conv(c.latent_channels, ch[-1]) + _vae_middle(ch[-1], c)
    width = ch[-1]
    for i, out in enumerate(reversed(ch)):                        # up
        for _ in range(c.layers_per_block + 1):
            decoder, width = decoder + P.resnet_block(width, out), out
        decoder += P.resample(out) if i < len(ch) - 1 else 0
    decoder += P.norm(ch[0]) + P.conv(ch[0], c.out_channels)
    return {"encoder": encoder, "quant_conv": P.conv(moments, moments, 1),
            "post_quant_conv": P.conv(c.latent_channels, c.latent_channels, 1),
            "decoder": decoder}


def unet_parts(config) -> dict[str, int]:
    """The UNet's parameters along its U: emb(t), down path, middle, up path, in/out convs
    (``UNetArchitecture(config).parts()`` has them per level)."""
    per_part = UNetArchitecture(config).parts()
    path = lambda prefix: sum(n for part, n in per_part.items() if part.startswith(prefix))
    return {"time embedding": per_part["time embedding"], "down path": path("down"),
            "middle": per_part["mid"], "up path": path("up"),
            "in/out convs": per_part["conv_in"] + per_part["out"]}


@dataclass(frozen=True)
class ParameterCounts:
    """Parameters per part of each network: ``networks[network][part]``, counted from configs."""

    networks: dict[str, dict[str, int]]

    @classmethod
    def of(cls, config: PipelineConfig) -> "ParameterCounts":
        """The counts of ``config``'s text encoder, UNet and VAE."""
        return cls({"text encoder": text_encoder_parts(config.text),
                    "UNet": unet_parts(config.unet), "VAE": vae_parts(config.vae)})

    def total(self, network: str | None = None) -> int:
        """One network's parameters, or (None) all three networks'."""
        names = self.networks if network is None else [network]
        return sum(sum(self.networks[name].values()) for name in names)

    def table(self) -> str:
        return side_by_side({"parameters": self})

    def __repr__(self) -> str:
        networks = ", ".join(f"{name} {self.total(name):,}" for name in self.networks)
        return f"ParameterCounts({networks}; all {self.total():,})"


def side_by_side(counts: dict[str, ParameterCounts]) -> str:
    """Columns of parameter counts, one per pipeline (``{"tiny-shapes": counts, ...}``): each
    network with its share of all three networks, then its parts with their share of it."""
    names = list(counts)
    first = counts[names[0]]
    width = max(21, *(len(n) + 2 for n in names))
    cell = lambda n, whole: f"{n:,} {100 * n / whole:5.1f}%"
    row = lambda label, values: f"{label:<22}" + "".join(f"{v:>{width}}" for v in values)
    lines = [row("", names)]
    for network in first.networks:
        lines.append(row(network, [cell(c.total(network), c.total()) for c in counts.values()]))
        for part in first.networks[network]:
            lines.append(row(f"  {part}", [cell(c.networks[network][part], c.total(network))
                                           for c in counts.values()]))
    lines.append(row("all three", [cell(c.total(), c.total()) for c in counts.values()]))
    return "\n".join(lines)
