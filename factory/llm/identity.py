"""From a backend's model reference to what identifies the weights behind it.

In: a backend config (``VLLMBackend`` / ``OpenAIBackend``) and the folders a relative model path is read
against. Out:

- ``resolve_backend``: the config with its vLLM model reference made something a loader takes: a shipped
  name (``smollm2-135m``) -> its folder, imported on first use; an existing folder -> its absolute path
  (relative ones against the base folders, then the cwd); a Hub id -> unchanged, once the Hub (or, offline,
  its local cache) has it. Anything else is a ``ModelNotFoundError`` that lists what was tried.
- ``model_identity``: a local folder's fingerprint, a pinned revision, or what an OpenAI-compatible server
  reports serving under the model name (``served_model``: vLLM's ``root``, the weights' path or Hub id).
- ``cache_model_id``: the identity as the model id request keys (``factory.llm.cache.request_key``) and the
  cache file are built from: ``name[@fingerprint][ served=root][ rev=revision]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from factory.errors import SettingError
from factory.llm.models import SHIPPED, ModelError, ensure_shipped, model_fingerprint
from factory.llm.types import OpenAIBackend, VLLMBackend


class ModelNotFoundError(SettingError):
    """A model reference that names no local folder, shipped model or Hub model this machine can load;
    the message says who asked and every place looked at."""

    def __init__(self, ref: str, tried: list[str], owner: str | None = None):
        self.ref, self.tried = ref, tried
        lines = [f"{owner + ': ' if owner else ''}model '{ref}' cannot be found. Tried:"]
        lines += [f"    - {t}" for t in tried]
        lines.append(
            f"  Give a model folder, a shipped name ({', '.join(SHIPPED)}) or a Hub id such as "
            f"{next(iter(SHIPPED.values())).hub_id}."
        )
        super().__init__("\n".join(lines), loc=("backend", "model"))


def resolve_backend(
    backend: VLLMBackend | OpenAIBackend, base_dirs: tuple[Path, ...] = (), owner: str | None = None
) -> VLLMBackend | OpenAIBackend:
    """``backend`` with its vLLM model reference resolved (see the module docstring); an OpenAI backend's
    model is a served name and passes unchanged."""
    if backend.kind != "vllm":
        return backend
    model = resolve_reference(backend.model, base_dirs, backend.revision, owner)
    return backend if model == backend.model else backend.model_copy(update={"model": model})


def resolve_reference(
    ref: str, base_dirs: tuple[Path, ...] = (), revision: str | None = None, owner: str | None = None
) -> str:
    """A model reference as a loader takes it: shipped name -> imported folder, existing path -> absolute
    path (an absolute one as written), Hub id -> unchanged; else ``ModelNotFoundError``."""
    if ref in SHIPPED:
        try:
            return str(ensure_shipped(ref))
        except ModelError as exc:
            raise ModelNotFoundError(ref, [f"the shipped model '{ref}': {exc}"], owner) from None
    path = Path(ref).expanduser()
    if path.is_absolute():
        if path.exists():
            return str(path)
        candidates = [path]
    else:
        candidates = [base / path for base in (*base_dirs, Path.cwd())]
        for candidate in candidates:
            if candidate.exists():
                return str(candidate.resolve())
    folders = ", ".join(dict.fromkeys(str(c.absolute()) for c in candidates))
    tried = [f"a local folder: {folders} (none exists)", f"a shipped model: not one of {', '.join(SHIPPED)}"]
    if path.is_absolute():
        tried.append("the Hugging Face Hub: an absolute path is not a Hub id")
        raise ModelNotFoundError(ref, tried, owner)
    missing = hub_problem(ref, revision)
    if missing is None:
        return ref
    raise ModelNotFoundError(ref, [*tried, f"the Hugging Face Hub: {missing}"], owner)


def hub_problem(repo_id: str, revision: str | None = None) -> str | None:
    """None when the Hub's local cache or the Hub itself has the model ``repo_id`` (a gated one counts);
    else why not (not a Hub id, offline and not cached, no such model or revision, Hub unreachable)."""
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        return f"not a Hub id ({exc})"
    if isinstance(try_to_load_from_cache(repo_id, "config.json", revision=revision), str):
        return None
    cache = f"the local Hub cache ({constants.HF_HUB_CACHE}) has no copy"
    if constants.HF_HUB_OFFLINE:
        return f"offline (HF_HUB_OFFLINE is set) and {cache}"
    try:
        HfApi().model_info(repo_id, revision=revision, timeout=15)
    except GatedRepoError:
        return None  # it exists; loading it needs a token with access (the loader says so)
    except RevisionNotFoundError:
        return f"'{repo_id}' has no revision '{revision}'"
    except RepositoryNotFoundError:
        return "no such model (or a private one: set HF_TOKEN)"
    except Exception as exc:  # noqa: BLE001 - connection errors of any HTTP stack: the reason is what counts
        return f"unreachable ({type(exc).__name__}: {str(exc)[:200]}) and {cache}"
    return None


def model_identity(backend: VLLMBackend | OpenAIBackend) -> dict[str, Any]:
    """What identifies the weights behind a resolved backend: ``model`` and ``revision``, plus a local
    folder's ``fingerprint`` or, for a server asked what it serves (``check_model``), ``served``."""
    ident: dict[str, Any] = {"model": backend.model, "revision": backend.revision}
    if backend.kind == "vllm":
        if Path(backend.model).is_dir():
            ident["fingerprint"] = model_fingerprint(Path(backend.model))
    elif backend.check_model:
        from factory.llm.backends.openai_http import served_model

        ident["served"] = served_model(backend)
    return ident


def cache_model_id(ident: dict[str, Any]) -> str:
    """The model id request keys are built from: the model name, its fingerprint (local folder) or what the
    server serves under that name, and a pinned revision."""
    out = ident["model"]
    if ident.get("fingerprint"):
        out += f"@{ident['fingerprint']}"
    if ident.get("served"):
        out += f" served={ident['served']}"
    if ident.get("revision"):
        out += f" rev={ident['revision']}"
    return out
