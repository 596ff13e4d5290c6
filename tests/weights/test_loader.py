"""Loading diffusers folders: every tensor placed, bad folders refused early and clearly."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

import reference_models as R
from explainer.models.configs import PRESETS
from explainer.weights import (
    UnsupportedConfigError,
    WeightsError,
    load_models,
)
from explainer.weights.download import needed_files
from torch_io import max_abs_diff, to_numpy_nhwc, to_torch_nchw

UNET_FILE = Path("unet") / "diffusion_pytorch_model.safetensors"
VAE_FILE = Path("vae") / "diffusion_pytorch_model.safetensors"


@pytest.fixture
def folder(small_folder, tmp_path):
    """A private copy of the small folder that a test may damage."""
    return Path(shutil.copytree(small_folder, tmp_path / "sd"))


def _unet_output(unet, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    latents = rng.standard_normal((1, 8, 8, 4)).astype(np.float32)
    context = rng.standard_normal((1, 77, 32)).astype(np.float32)
    return latents, context, np.asarray(unet(latents, np.array([500.0], np.float32), context))


def test_contract(small_models):
    m = small_models
    assert {"text_encoder", "unet", "vae"} <= set(vars(m))
    assert m.config.unet.block_channels == (32, 64)
    assert m.tokenizer("a red circle").ids[:3] == (49406, 320, 736)


def test_fp16_variant(small_reference, tmp_path):
    """``variant="fp16"`` reads *.fp16.safetensors; values equal the fp16-rounded reference."""
    half = [m.half() for m in (R.text_encoder(R.SMALL_TEXT), R.unet(R.SMALL_UNET),
                               R.vae(R.SMALL_VAE))]
    R.save_folder(tmp_path, *half, variant="fp16")
    assert (tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors").is_file()
    models = load_models(tmp_path, variant="fp16")
    assert models.unet.weights[0].dtype == "float32"  # stored fp16, computed in float32
    ref = half[1].float()
    latents, context, ours = _unet_output(models.unet)
    with torch.no_grad():
        expected = ref(to_torch_nchw(latents), torch.tensor([500.0]), torch.from_numpy(context))
    # identical (fp16-rounded) weights, float32 compute on both sides
    assert max_abs_diff(ours, to_numpy_nhwc(expected.sample)) <= 1e-4


def test_sharded_checkpoint(small_reference, tmp_path):
    R.save_folder(tmp_path, small_reference[0], None, small_reference[2])
    small_reference[1].save_pretrained(tmp_path / "unet", safe_serialization=True,
                                       max_shard_size="300KB")
    assert (tmp_path / "unet" / "diffusion_pytorch_model.safetensors.index.json").is_file()
    models = load_models(tmp_path)
    latents, context, ours = _unet_output(models.unet)
    with torch.no_grad():
        expected = small_reference[1](to_torch_nchw(latents), torch.tensor([500.0]),
                                      torch.from_numpy(context)).sample
    assert max_abs_diff(ours, to_numpy_nhwc(expected)) <= 1e-4  # float32 both sides


def test_folder_saved_by_todays_diffusers(small_reference, small_folder, tmp_path):
    """StableDiffusionPipeline.save_pretrained (diffusers 0.42 + transformers 5) loads."""
    import transformers

    import explainer

    folder = R.save_pipeline(tmp_path / "saved", *small_reference)
    assert not (folder / "tokenizer" / "vocab.json").exists()  # tokenizer.json only
    pipe = explainer.load_pipeline(weights=folder)
    reference = transformers.CLIPTokenizer.from_pretrained(folder / "tokenizer")
    prompts = ["a small red circle on the left", "", "Explainer, 🔥 café"]
    expected = reference(prompts, padding="max_length", max_length=77).input_ids
    assert pipe.tokenizer.ids(prompts).tolist() == expected  # integers: exact
    # the same weights as the legacy folder, so the same context, bit for bit
    legacy = explainer.load_pipeline(weights=small_folder)
    assert np.array_equal(pipe.encode_text(prompts), legacy.encode_text(prompts))
    assert type(pipe.scheduler).__name__ == "PNDMScheduler"


def test_legacy_vae_attention_names(folder, small_models, rng):
    """Older SD VAE files name the middle attention query/key/value/proj_attn."""
    tensors = load_file(folder / VAE_FILE)
    renames = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    legacy = {}
    for key, value in tensors.items():
        for new, old in renames.items():
            key = key.replace(f"attentions.0.{new}.", f"attentions.0.{old}.")
        legacy[key] = value
    save_file(legacy, folder / VAE_FILE)
    models = load_models(folder)
    latents = rng.standard_normal((1, 2, 2, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(models.vae.decode(latents)),
                                  np.asarray(small_models.vae.decode(latents)))


def test_truncated_file_is_named(folder):
    path = folder / UNET_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="unet/diffusion_pytorch_model.safetensors.*truncated"):
        load_models(folder)


def test_corrupt_header_is_named(folder):
    path = folder / VAE_FILE
    path.write_bytes(b"\xff" * 64 + path.read_bytes()[64:])
    with pytest.raises(WeightsError, match="vae/diffusion_pytorch_model.safetensors"):
        load_models(folder)


def test_pickle_is_refused_and_never_opened(folder, tmp_path):
    sentinel = tmp_path / "unpickled"

    class Trap:  # unpickling this would create the sentinel file
        def __reduce__(self):
            return (Path.touch, (sentinel,))

    (folder / UNET_FILE).unlink()
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps(Trap()))
    with pytest.raises(WeightsError, match=r"pickle.*diffusion_pytorch_model\.bin"):
        load_models(folder)
    assert not sentinel.exists()


def test_missing_part_is_named(folder):
    shutil.rmtree(folder / "vae")
    with pytest.raises(WeightsError, match=r"vae not found"):
        load_models(folder)


def test_missing_folder():
    with pytest.raises(WeightsError, match="does not exist"):
        load_models("/nonexistent/sd-v1-5")


def test_missing_and_unexpected_and_misshapen_keys(folder):
    tensors = load_file(folder / UNET_FILE)
    del tensors["mid_block.resnets.0.conv1.weight"]
    tensors["extra.weight"] = np.zeros(3, np.float32)
    tensors["conv_out.bias"] = np.zeros(5, np.float32)
    save_file(tensors, folder / UNET_FILE)
    with pytest.raises(WeightsError) as info:
        load_models(folder)
    message = str(info.value)
    assert "1 missing: mid_block.resnets.0.conv1.weight" in message
    assert "1 unexpected: extra.weight" in message
    assert "conv_out.bias: expected (4,), got (5,)" in message


@pytest.mark.parametrize("field,value", [
    ("down_block_types", ["SimpleCrossAttnDownBlock2D", "DownBlock2D"]),
    ("class_embed_type", "timestep"),
    ("addition_embed_type", "text_time"),
    ("act_fn", "gelu"),
])
def test_unsupported_unet_config_is_refused(folder, field, value):
    path = folder / "unet" / "config.json"
    cfg = json.loads(path.read_text())
    cfg[field] = value
    path.write_text(json.dumps(cfg))
    with pytest.raises(UnsupportedConfigError, match=field):
        load_models(folder)


def test_preset_shape_is_checked(small_folder):
    with pytest.raises(WeightsError, match="differs from the preset"):
        load_models(small_folder, config=PRESETS["sd-v1-5"])


def test_download_fails_fast_without_network(tmp_path):
    """No network here: the helper must fail quickly with instructions, and write no weights."""
    code = ("import explainer, sys\n"
            "try:\n"
            f"    explainer.download('sd-v1-5', to={str(tmp_path / 'sd')!r})\n"
            "except explainer.weights.DownloadError as err:\n"
            "    print(err); sys.exit(3)\n")
    for env in ({"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}):
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, env={**os.environ, **env})
        assert run.returncode == 3, run.stderr[-2000:]
        assert "explainer download sd-v1-5 --to DIR" in run.stdout
        assert "load_pipeline('sd-v1-5', weights=DIR)" in run.stdout
    assert not list(tmp_path.rglob("*.safetensors"))


def test_download_lists_exactly_the_needed_files():
    files = needed_files("fp16")
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in files
    assert not [f for f in files if f.endswith((".bin", ".ckpt"))]
    with pytest.raises(ValueError, match="tiny|nothing to download|choose"):
        import explainer

        explainer.download("no-such-preset", to="/tmp/x")


def test_one_resolved_config_from_folder_and_preset(folder):
    """load_models resolves the PipelineConfig a pipeline reads: the folder's networks and
    scheduler_config.json, the preset's name and run defaults (diffusers' 50 / 7.5 without)."""
    from dataclasses import replace

    from explainer.diffusion.pipeline import Pipeline

    schedule = {"_class_name": "EulerDiscreteScheduler", "beta_start": 0.001, "beta_end": 0.02,
                "beta_schedule": "linear", "num_train_timesteps": 1000}
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(schedule))
    models = load_models(folder)
    config = models.config
    assert config.name is None and config.default_steps == 50 and config.default_guidance == 7.5
    assert config.scheduler == schedule and config.unet.block_channels == (32, 64)
    pipe = Pipeline(models)
    assert type(pipe.scheduler).__name__ == "EulerScheduler" and pipe.preset is None
    assert pipe.scheduler.config.beta_start == 0.001
    # a preset gives its name and defaults; a folder without a scheduler config, its schedule
    (folder / "scheduler" / "scheduler_config.json").unlink()
    preset = replace(PRESETS["tiny-shapes"], text=config.text, unet=config.unet, vae=config.vae)
    resolved = load_models(folder, config=preset).config
    assert (resolved.name, resolved.default_steps, resolved.default_guidance) == (
        "tiny-shapes", 25, 2.0)
    assert resolved.scheduler == PRESETS["tiny-shapes"].scheduler
    with pytest.raises(TypeError, match="PipelineConfig"):
        Pipeline(models, dict(schedule))                           # the old call, refused
