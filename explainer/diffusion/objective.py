"""The training objective of a latent diffusion model (Ho et al. 2020; Rombach et al. 2022).

    x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε,   ε ~ N(0, I),   t ~ U{0 .. T−1}
    L   = w_t·‖ε − ε_θ(x_t, t, c)‖²

Used by training (``explainer/shapes/train.py``: text encoder and UNet together), by textual
inversion (``explainer/explore/textual_inversion.py``: one word's vector, the model frozen) and
by lesson 10, which evaluates it by hand.
"""

from __future__ import annotations


def diffusion_loss(text_encoder, unet, ids, x0, t, eps, alpha_bar, snr_gamma=None):
    """The training objective for each example: w_t·‖ε − ε_θ(x_t, t, c)‖² (mean over latent
    elements), where x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε and c = text_encoder(ids).

    ids [B, 77], x0 and eps [B, h, w, 4], t [B] integer timesteps, alpha_bar [1000] (ᾱ).
    ``text_encoder`` is any callable ids -> context (textual inversion passes its own).
    ``snr_gamma``: Min-SNR-γ weights w_t = min(SNR_t, γ)/SNR_t (Hang et al. 2023), with
    SNR_t = ᾱ_t/(1 − ᾱ_t): low-noise steps (easy, detail only) stop dominating the gradient,
    and the high-noise steps that decide colour, shape and place get the model's attention.
    None: w_t = 1, the plain ε-MSE of Ho et al. ``keras.ops`` only: works eagerly (a lesson)
    or inside a compiled training step, on any backend.
    """
    from explainer.models.backend import ops

    x0 = ops.convert_to_tensor(x0, "float32")
    eps = ops.convert_to_tensor(eps, "float32")
    a = ops.take(ops.convert_to_tensor(alpha_bar, "float32"), t)                # ᾱ_t  [B]
    a4 = ops.reshape(a, (-1, 1, 1, 1))
    x_t = ops.sqrt(a4) * x0 + ops.sqrt(1.0 - a4) * eps                           # q(x_t | x_0)
    context = text_encoder(ids)                                                  # [B, 77, C]
    eps_hat = unet(x_t, ops.cast(t, "float32"), context)                         # ε_θ(x_t, t, c)
    per_example = ops.mean(ops.square(eps_hat - eps), axis=(1, 2, 3))           # [B]
    if snr_gamma is None:
        return per_example
    snr = a / (1.0 - a)
    return ops.minimum(snr, snr_gamma) / snr * per_example
