"""The loop, written out in eager Python, and what it is called with and returns.

- ``pipeline.py``: ``Pipeline``, the stages as methods; text-to-image, image-to-image, inpaint;
- ``loading.py``: ``load_pipeline`` (presets, folders, precision);
- ``guidance.py``: classifier-free guidance, a pure function;
- ``inputs.py``: checks on what a learner passes in; ``resize.py``: input images to a size;
- ``trace.py``: ``Trace`` and ``StepRecord``, every stage's output; save/load.
"""
