"""explainer: how Stable Diffusion turns a prompt into a picture, one inspectable stage at a time.

The public API is re-exported here. Importing the package is cheap: TensorFlow loads only
when a network is first built.
"""

from explainer.tokenizer import PromptTruncatedWarning, Tokenizer, Tokens, tokenize

__version__ = "0.1.0"

__all__ = ["PromptTruncatedWarning", "Tokenizer", "Tokens", "tokenize", "__version__"]
