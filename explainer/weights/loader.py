"""Load a diffusers-format Stable Diffusion folder into the Keras models.

    folder/
      model_index.json                       (optional here)
      tokenizer/      tokenizer.json, or vocab.json + merges.txt (the legacy layout)
      text_encoder/   config.json, model[.fp16].safetensors
      unet/           config.json, diffusion_pytorch_model[.fp16].safetensors
      vae/            config.json, diffusion_pytorch_model[.fp16].safetensors
      scheduler/      scheduler_config.json  (read by the pipeline)

Safetensors only: a ``.bin``/``.ckpt`` pickle is refused, never opened. Everything that can be
checked without reading tensor data is checked first (files present, headers readable, every
key and shape matching the model built from config.json), so a bad folder fails in seconds
with a message naming the file. Tensors are then streamed one at a time into the variables,
so loading the 3.4 GB UNet needs about its own size in memory plus one tensor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explainer.weights.keys import IGNORED_BUFFERS, KeyMap

PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")


class WeightsError(ValueError):
    """A weights folder or file is missing, corrupt, a pickle, or does not fit the model."""


def _bfloat16():
    import ml_dtypes  # ships with TensorFlow

    return ml_dtypes.bfloat16


SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16,
                      "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
                      "U8": np.uint8, "BOOL": np.bool_}
try:
    SAFETENSORS_DTYPES["BF16"] = _bfloat16()
except ImportError:  # pragma: no cover - TensorFlow always brings ml_dtypes
    pass


@dataclass(frozen=True)
class TensorInfo:
    file: Path
    shape: tuple[int, ...]
    dtype: str
    begin: int  # byte range of the data in the file
    end: int


def require_dir(part_dir: Path) -> None:
    if not part_dir.is_dir():
        raise WeightsError(
            f"{part_dir} not found: a diffusers Stable Diffusion folder has tokenizer/, "
            "text_encoder/, unet/, vae/ and scheduler/. Download it with "
            "`explainer download sd-v1-5 --to DIR` (on a machine with internet access).")


def weight_files(part_dir: Path, stem: str, variant: str | None = None) -> list[Path]:
    """The safetensors file(s) of one part (``stem`` is "model" or "diffusion_pytorch_model").

    Prefers the full-precision file, then the ``variant`` (e.g. "fp16") one; follows a
    ``.safetensors.index.json`` for sharded checkpoints.
    """
    require_dir(part_dir)
    names = [f"{stem}.{variant}.safetensors", f"{stem}.safetensors"] if variant else \
        [f"{stem}.safetensors", f"{stem}.fp16.safetensors"]
    for name in names:
        if (part_dir / name).is_file():
            return [part_dir / name]
        index = part_dir / f"{name}.index.json"
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (ValueError, KeyError) as err:
                raise WeightsError(f"{index} is not a valid shard index ({err})") from err
            missing = [s for s in shards if not (part_dir / s).is_file()]
            if missing:
                raise WeightsError(f"{index} lists shard(s) that are missing: {missing}")
            return [part_dir / s for s in shards]
    pickles = sorted(p.name for p in part_dir.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise WeightsError(
            f"{part_dir} holds only pickle weights ({', '.join(pickles)}). explainer never "
            "unpickles files (a pickle can run arbitrary code); download the .safetensors "
            f"version ({names[0]}) of this model instead.")
    raise WeightsError(f"no weights in {part_dir}: expected {' or '.join(names)}")


def read_headers(files: list[Path]) -> dict[str, TensorInfo]:
    """Key -> (file, shape, dtype, byte range) from safetensors headers, without tensor data."""
    infos: dict[str, TensorInfo] = {}
    for path in files:
        try:
            infos.update(_read_header(path))
        except (ValueError, KeyError, TypeError, OSError) as err:
            raise WeightsError(
                f"{path} is not a readable safetensors file ({err}). It may be truncated or "
                "corrupt: delete it and download it again.") from err
    return infos


def _read_header(path: Path) -> dict[str, TensorInfo]:
    """The safetensors format: 8-byte little-endian header size, a JSON header, then the data.

    Read with plain file I/O (no memory map, so loading does not hold the whole file in this
    process's memory) and checked against the file's size before any tensor is read.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        if not 2 <= n <= min(size - 8, 100_000_000):
            raise ValueError(f"header size {n} does not fit a {size}-byte file")
        header = json.loads(fh.read(n).decode("utf-8"))
    data_start, infos = 8 + n, {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        dtype, shape = entry["dtype"], tuple(int(d) for d in entry["shape"])
        begin, end = (int(o) for o in entry["data_offsets"])
        if dtype not in SAFETENSORS_DTYPES:
            raise ValueError(f"tensor {key} has dtype {dtype}; supported: {sorted(SAFETENSORS_DTYPES)}")
        itemsize = np.dtype(SAFETENSORS_DTYPES[dtype]).itemsize
        if end - begin != itemsize * int(np.prod(shape)) or data_start + end > size:
            raise ValueError(f"tensor {key} ({dtype} {list(shape)}) does not fit in the file "
                             f"(bytes {begin}..{end} of {size - data_start})")
        infos[key] = TensorInfo(path, shape, dtype, data_start + begin, data_start + end)
    return infos


def read_tensor(fh, info: "TensorInfo") -> np.ndarray:
    """One tensor's bytes from an open file, as a numpy array (float16/bfloat16/float32...)."""
    fh.seek(info.begin)
    buffer = fh.read(info.end - info.begin)
    return np.frombuffer(buffer, SAFETENSORS_DTYPES[info.dtype]).reshape(info.shape)


def torch_shape(keras_shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """The shape a checkpoint tensor must have to fill a Keras variable of ``keras_shape``."""
    if layout == "linear":
        return tuple(reversed(keras_shape))
    if layout == "conv":
        kh, kw, i, o = keras_shape
        return (o, i, kh, kw)
    return tuple(keras_shape)


def to_keras(array: np.ndarray, layout: str) -> np.ndarray:
    """PyTorch layout -> Keras layout (see keys.py's table)."""
    if layout == "linear":
        if array.ndim == 4:  # a 1x1 Conv2d used as a Linear: [out, in, 1, 1]
            array = array[:, :, 0, 0]
        return array.T
    if layout == "conv":
        return array.transpose(2, 3, 1, 0)
    return array


def check_keys(keymap: KeyMap, infos: dict[str, TensorInfo], where: str) -> None:
    """Every checkpoint tensor consumed, every variable filled, every shape right; else raise."""
    expected = set(keymap)
    found = set(infos) - set(IGNORED_BUFFERS)
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    mismatched = []
    for key in sorted(expected & found):
        variable, layout = keymap[key]
        want = torch_shape(tuple(variable.shape), layout)
        got = infos[key].shape
        ok = got == want or (layout == "linear" and got == want + (1, 1))
        if not ok:
            mismatched.append(f"{key}: expected {want}, got {got}")
    if missing or unexpected or mismatched:
        def show(items):
            return ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")
        parts = [f"{len(missing)} missing: {show(missing)}" if missing else "",
                 f"{len(unexpected)} unexpected: {show(unexpected)}" if unexpected else "",
                 f"{len(mismatched)} with the wrong shape: {show(mismatched)}" if mismatched else ""]
        raise WeightsError(
            f"{where} does not match the model built from its config.json: "
            + "; ".join(p for p in parts if p)
            + ". Check that config.json and the weights file come from the same model.")


def assign(keymap: KeyMap, infos: dict[str, TensorInfo]) -> None:
    """Stream tensors file by file into the variables (one tensor in memory at a time)."""
    by_file: dict[Path, list[str]] = {}
    for key in keymap:
        by_file.setdefault(infos[key].file, []).append(key)
    for path, keys in by_file.items():
        with open(path, "rb") as fh:
            for key in sorted(keys, key=lambda k: infos[k].begin):   # read the file in order
                variable, layout = keymap[key]
                array = to_keras(read_tensor(fh, infos[key]), layout)
                dtype = _bfloat16() if variable.dtype == "bfloat16" else variable.dtype
                variable.assign(np.ascontiguousarray(array, dtype=dtype))


@dataclass
class Models:
    """The three networks of one Stable Diffusion model, with its tokenizer and config."""

    text_encoder: object
    unet: object
    vae: object
    tokenizer: object
    config: object  # PipelineConfig
    folder: Path | None = None


PARTS = (("text_encoder", "model"), ("unet", "diffusion_pytorch_model"),
         ("vae", "diffusion_pytorch_model"))


def has_weights(folder: Path) -> bool:
    """Whether ``folder`` holds a model's three network folders (text_encoder/, unet/, vae/)."""
    return all((Path(folder) / part).is_dir() for part, _ in PARTS)


def read_pipeline_config(folder: Path, preset=None):
    """The ``PipelineConfig`` a diffusers folder describes: its three config.json files and
    its scheduler/scheduler_config.json, with the preset's name and run defaults (a folder
    without a scheduler config takes the preset's schedule, else SD v1.5's)."""
    from dataclasses import replace

    from explainer.models.configs import PipelineConfig
    from explainer.weights.configs import read_config, text_encoder_config, unet_config, vae_config

    for part, _ in PARTS:
        require_dir(folder / part)
    resolved = replace(preset if preset is not None else PipelineConfig(),
                       text=text_encoder_config(folder / "text_encoder" / "config.json"),
                       unet=unet_config(folder / "unet" / "config.json"),
                       vae=vae_config(folder / "vae" / "config.json"))
    scheduler_file = folder / "scheduler" / "scheduler_config.json"
    if scheduler_file.is_file():
        resolved = replace(resolved, scheduler=read_config(scheduler_file))
    return resolved


def load_models(folder: str | Path, variant: str | None = None, config=None,
                weight_dtypes: dict[str, str] | None = None) -> Models:
    """Build the three Keras models from a diffusers folder's config.json files and load them.

    Args:
        folder: a diffusers-format Stable Diffusion folder (see the module docstring).
        variant: "fp16" to prefer ``*.fp16.safetensors`` (stored fp16, computed in float32).
        config: a ``PipelineConfig`` the folder must match (e.g. ``PRESETS["sd-v1-5"]``);
            by default the folder's own configs are used, as diffusers' ``from_pretrained``.
        weight_dtypes: the dtype each network's variables are created in, e.g.
            ``{"unet": "bfloat16"}`` (``Precision.weight_dtypes()``); float32 otherwise. Each
            tensor is converted as it is read, so no float32 copy of that network is ever made.
    """
    from explainer.models.block import weights_to_be_loaded
    from explainer.models.precision import created_in
    from explainer.models.text_encoder import TextEncoder
    from explainer.models.unet import UNet
    from explainer.models.vae import VAE
    from explainer.tokenizer import Tokenizer, default_tokenizer
    from explainer.weights.keys import (
        is_legacy_vae,
        text_encoder_keys,
        text_encoder_prefix,
        unet_keys,
        vae_keys,
    )

    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"weights folder {folder} does not exist; pass the folder that holds "
                           "unet/, vae/, text_encoder/ (see `explainer download --help`)")
    found = read_pipeline_config(folder, preset=config)
    if config is not None:
        for name in ("text", "unet", "vae"):
            ours, theirs = getattr(config, name), getattr(found, name)
            # sample_size (a default) and scaling_factor (a calibration) are not shape
            diffs = {k: (v, getattr(theirs, k)) for k, v in ours.get_config().items()
                     if k not in ("sample_size", "scaling_factor") and getattr(theirs, k) != v}
            if diffs:
                shown = ", ".join(f"{k}: expected {a!r}, found {b!r}" for k, (a, b) in diffs.items())
                raise WeightsError(f"{folder}: the {name} config differs from the preset's ({shown})")
    # Cheap checks for every part before any model is built or any tensor is read.
    infos = {part: read_headers(weight_files(folder / part, stem, variant)) for part, stem in PARTS}

    dtypes = {"text_encoder": "float32", "unet": "float32", "vae": "float32", **(weight_dtypes or {})}
    # built from the configs' shapes, with zeros where the weights will go: nothing is drawn
    with weights_to_be_loaded():
        with created_in(dtypes["text_encoder"]):
            text_encoder = TextEncoder(found.text, name="text_encoder")
        with created_in(dtypes["unet"]):
            unet = UNet(found.unet, name="unet")
        with created_in(dtypes["vae"]):
            vae = VAE(found.vae, name="vae")
    keymaps = {"text_encoder": text_encoder_keys(text_encoder,
                                                  text_encoder_prefix(infos["text_encoder"])),
               "unet": unet_keys(unet),
               "vae": vae_keys(vae, legacy_attention=is_legacy_vae(infos["vae"]))}
    for part, _ in PARTS:
        check_keys(keymaps[part], infos[part], str(folder / part))
    for part, _ in PARTS:
        assign(keymaps[part], infos[part])

    tokenizer_dir = folder / "tokenizer"
    tokenizer = Tokenizer.from_folder(tokenizer_dir) if tokenizer_dir.is_dir() else default_tokenizer()
    return Models(text_encoder, unet, vae, tokenizer, found, folder)
