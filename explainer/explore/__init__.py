"""What a run is analysed with: its outputs in, numbers and tables out (plots are in viz/).

- ``attention_maps.py``: ``AttentionMaps``, which word paints which pixels;
- ``trajectory.py``: ``LatentTrajectory``, the latents' path by PCA;
- ``comparison.py``: ``compare``/``Comparison``, a keyword A/B from the same noise;
- ``textual_inversion.py``: ``TextualInversion``, a new word learned as one vector.
"""
