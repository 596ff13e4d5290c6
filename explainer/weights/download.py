"""Fetch the Stable Diffusion v1.5 folder (exactly the files explainer reads) with huggingface_hub."""

from __future__ import annotations

from pathlib import Path


class DownloadError(RuntimeError):
    """The weights could not be fetched; the message says how to get them another way."""


def needed_files(variant: str | None = None) -> list[str]:
    """The files of a diffusers SD v1.x repository that ``load_models`` reads, and no others."""
    v = f".{variant}" if variant else ""
    return [
        "model_index.json",
        "scheduler/scheduler_config.json",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "tokenizer/special_tokens_map.json",
        "tokenizer/tokenizer_config.json",
        "text_encoder/config.json",
        f"text_encoder/model{v}.safetensors",
        "unet/config.json",
        f"unet/diffusion_pytorch_model{v}.safetensors",
        "vae/config.json",
        f"vae/diffusion_pytorch_model{v}.safetensors",
    ]


def download(preset: str = "sd-v1-5", to: str | Path = "weights/sd-v1-5",
             variant: str | None = None) -> Path:
    """Download a preset's diffusers folder into ``to`` and return its path.

    Args:
        preset: a preset with a repository (``"sd-v1-5"``: stable-diffusion-v1-5/stable-diffusion-v1-5).
        to: the folder to fill (created if needed); pass it later as ``weights=``.
        variant: ``"fp16"`` for the half-size fp16 files (2 GB instead of 4 GB).
    """
    from explainer.models.configs import PRESETS

    if preset not in PRESETS or PRESETS[preset].repo_id is None:
        downloadable = sorted(k for k, v in PRESETS.items() if v.repo_id)
        raise ValueError(f"preset {preset!r} has nothing to download; choose one of {downloadable}")
    if variant not in (None, "fp16"):
        raise ValueError(f"variant must be None or 'fp16', got {variant!r}")
    repo = PRESETS[preset].repo_id
    to = Path(to)
    files = needed_files(variant)
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id=repo, allow_patterns=files, local_dir=str(to), etag_timeout=10)
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DownloadError(
            f"could not download {repo} ({type(err).__name__}: {reason[:200]}). On a machine "
            f"with internet access run `explainer download {preset} --to DIR`"
            f"{' --fp16' if variant else ''} (or `huggingface-cli download {repo} "
            + " ".join(f"--include '{f}'" for f in files[:1]) + " ...`, the files listed by "
            "explainer.weights.download.needed_files()), copy DIR here, and point explainer at "
            f"it: explainer.load_models(DIR) or load_pipeline('{preset}', weights=DIR)."
        ) from err
    missing = [f for f in files if not (to / f).is_file()]
    if missing:
        raise DownloadError(f"the download into {to} is incomplete; missing: {missing}")
    return to
