"""Exercises a learner can check alone: each ``check_*`` returns a ``Feedback`` that says
what is right or wrong, and why (never just True/False). Solutions: notebooks/solutions/.

| lesson | check                                                                     |
|--------|---------------------------------------------------------------------------|
| 00     | ``check_stage_order``, ``check_compression``                              |
| 01     | ``check_padding``, ``check_too_long``                                     |
| 02     | ``check_first_difference``, ``check_causal_mask``                         |
| 03     | ``check_pred_x0``, ``check_half_noise``                                   |
| 03b    | ``check_resnet_parameters``, ``check_attention_tokens``                   |
| 04     | ``check_guidance``, ``check_guidance_scales``                             |
| 05     | ``check_alpha_bar``, ``check_ddim_step``                                  |
| 06     | ``check_latent_shape``, ``check_latent_scale``                            |
| 07     | ``check_loop``, ``check_fewest_steps``                                    |
| 08     | ``check_seed_for``, ``check_negative_prompt``                             |
| 09     | ``check_first_timestep``                                                  |
| 10     | ``check_noising``, ``check_min_snr``                                      |
| 11     | ``check_attention``, ``check_uniform_share``                              |
| 12     | ``check_slerp``, ``check_new_word``                                       |
| 13     | ``check_token_mapper``, ``check_inversion_step``                          |
"""

from explainer.exercises.conditioning import (check_attention, check_attention_tokens,
                                              check_new_word, check_resnet_parameters,
                                              check_slerp, check_uniform_share)
from explainer.exercises.denoising import (check_alpha_bar, check_ddim_step, check_guidance,
                                           check_guidance_scales, check_half_noise, check_min_snr,
                                           check_noising, check_pred_x0)
from explainer.exercises.editing import check_inversion_step, check_token_mapper
from explainer.exercises.feedback import Feedback
from explainer.exercises.pictures import (check_fewest_steps, check_first_timestep,
                                          check_latent_scale, check_latent_shape, check_loop,
                                          check_negative_prompt, check_seed_for)
from explainer.exercises.stages import (check_causal_mask, check_compression,
                                        check_first_difference, check_padding,
                                        check_stage_order, check_too_long)

__all__ = [
    "Feedback", "check_alpha_bar", "check_inversion_step", "check_token_mapper", "check_attention", "check_attention_tokens",
    "check_causal_mask", "check_compression", "check_ddim_step", "check_fewest_steps",
    "check_first_difference", "check_first_timestep", "check_guidance", "check_guidance_scales",
    "check_half_noise",
    "check_latent_scale", "check_latent_shape", "check_loop", "check_min_snr",
    "check_negative_prompt", "check_new_word", "check_noising", "check_padding",
    "check_pred_x0", "check_resnet_parameters", "check_seed_for", "check_slerp",
    "check_stage_order", "check_too_long", "check_uniform_share",
]
