"""What a run is analysed with: its outputs in, numbers and tables out (plots are in viz/).

- ``attention_maps.py``: ``AttentionMaps``, which word paints which pixels;
- ``attention_atlas.py``: ``AttentionAtlas``, every cross-attention layer, step and token;
- ``prompt_to_prompt.py``: ``edit``/``PromptToPrompt``, editing by editing the prompt, through
  the UNet's attention hook; ``ddim_inversion.py``: ``ddim_invert``, a picture back to x_T;
- ``trajectory.py``: ``LatentTrajectory``, the latents' path by PCA;
- ``comparison.py``: ``compare``/``Comparison``, a keyword A/B from the same noise;
- ``textual_inversion.py``: ``TextualInversion``, a new word learned as one vector;
- ``unet_architecture.py``: ``UNetArchitecture``, the UNet's blocks, skips and parameters
  read from its config (no weights);
- ``parameter_counts.py``: ``ParameterCounts``, the three networks' parameters per part, and
  ``side_by_side`` for several pipelines; ``block_parameters.py``: the per-block sums;
- ``preset_facts.py``: ``facts_table``, two presets side by side from their configs.

The two config readers are imported here (they need no Keras); the others load on use.
"""

from explainer.explore.parameter_counts import ParameterCounts, side_by_side
from explainer.explore.unet_architecture import UNetArchitecture

__all__ = ["ParameterCounts", "UNetArchitecture", "side_by_side"]
