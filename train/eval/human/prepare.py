"""``factory eval human prepare``: questions -> personal data masked -> answers from 2..N models -> a study.

In: a questions file or version output (``questions.read_questions``), the model profiles (``ModelProfile``:
a model folder, shipped name or served model, its system prompt and sampling; from ``--model`` options or a
profiles YAML), and the study ``Design``. Out, in the study folder:

- ``study.json``: the items (``study.build_study``), each profile's backend, system prompt (and where it
  came from, as the other evaluations record it: ``system_prompt_source``) and sampling;
- ``pii_review.json``: the flagged questions for a person to decide on (they stay out until decided);
- ``gen_cache/``: the answers, cached per model (``train.eval.gen.Generator``): preparing again after a
  review only asks for the questions that came in.

Answers go through the project's generation client (``factory.llm.client.Generator``): vLLM offline on a
model folder by default, or an OpenAI-compatible server (``server``); profiles with the same backend share
one generator (one engine start). A failed or empty answer leaves that (question, pair) out, counted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from factory.llm.client import Generator, local_backend
from factory.llm.types import OpenAIBackend, Request, SamplingConfig, VLLMBackend
from train.eval.generative import system_prompt_for, system_turn
from train.eval.human.pii import PiiDetector
from train.eval.human.questions import REVIEW_FILE, load_review, read_questions, screen, write_review
from train.eval.human.study import STUDY_FILE, Design, ModelEntry, Study, StudyError, build_study, save_study

DB_FILE = "human.sqlite"


class ModelProfile(BaseModel):
    """One model as the study asks it: ``model`` (folder, shipped name such as ``smollm2-135m``, or the
    served name when ``server`` is set), ``system_prompt`` (None: the one recorded in the model's
    ``factory_train.json``, else none; ``''``: none) and ``sampling``. ``label`` is never shown to raters."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=80)
    model: str
    server: str | None = Field(None, description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str | None = None
    system_prompt: str | None = None
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(temperature=0.7, max_tokens=512))


class ProfilesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelProfile] = Field(min_length=2)


def load_profiles(path: Path) -> list[ModelProfile]:
    try:
        return ProfilesFile.model_validate(yaml.safe_load(Path(path).read_text())).models
    except (ValidationError, yaml.YAMLError, OSError) as exc:
        raise StudyError(
            f"{path}: not a valid profiles file ({{models: [{{label, model, ...}}]}}):\n{exc}"
        ) from exc


def profiles_from_models(models: list[str], server: str | None = None) -> list[ModelProfile]:
    """Profiles for plain ``--model`` options: labels from the folder names, made unique."""
    out: list[ModelProfile] = []
    for i, ref in enumerate(models):
        label = Path(ref).name or ref
        if any(p.label == label for p in out):
            label = f"{label}-{i + 1}"
        out.append(ModelProfile(label=label, model=ref, server=server))
    return out


def backend_of(profile: ModelProfile, device: str, max_model_len: int) -> VLLMBackend | OpenAIBackend:
    if profile.server:
        return OpenAIBackend(base_url=profile.server, model=profile.model, api_key_env=profile.api_key_env)
    return local_backend(profile.model, device, max_model_len)


def _entry(key: str, profile: ModelProfile, info: dict[str, Any]) -> ModelEntry:
    """The study's record of a profile; ``info``: its generator's description (resolved model folder)."""
    if profile.system_prompt is not None:
        prompt, source = (profile.system_prompt or None), "profile"
    elif info["kind"] == "vllm" and Path(info["model"]).is_dir():
        prompt, source = system_prompt_for(Path(info["model"]))
    else:
        prompt, source = None, "none"
    return ModelEntry(
        key=key, label=profile.label, model=profile.model, backend=info, system_prompt=prompt,
        system_prompt_source=source, sampling=profile.sampling.model_dump(),
    )  # fmt: skip


def generate_answers(
    questions: list[tuple[str, str]],
    profiles: list[ModelProfile],
    backends: list[VLLMBackend | OpenAIBackend],
    cache_dir: Path,
) -> tuple[list[ModelEntry], dict[tuple[str, str], str], dict[str, Any]]:
    """The study's model entries, ``answers[(question id, model key)]`` and per-model generation stats.
    Profiles with the same backend config share one generator (one engine start)."""
    entries: list[ModelEntry | None] = [None] * len(profiles)
    answers: dict[tuple[str, str], str] = {}
    stats: dict[str, Any] = {}
    groups: dict[str, list[int]] = {}
    for i, backend in enumerate(backends):
        groups.setdefault(backend.model_dump_json(), []).append(i)
    for members in groups.values():
        gen = Generator(backends[members[0]], cache_dir, owner="human evaluation")
        try:
            for i in members:
                entry = entries[i] = _entry(f"m{i + 1}", profiles[i], gen.info)
                requests = [
                    Request(row_id=qid, tag=entry.label, sampling=profiles[i].sampling,
                            messages=system_turn(entry.system_prompt) + [{"role": "user", "content": text}])
                    for qid, text in questions
                ]  # fmt: skip
                before = dict(gen.stats)
                responses = gen.ask(requests) if requests else []
                for (qid, _), response in zip(questions, responses, strict=True):
                    answers[(qid, entry.key)] = response.first_text.strip()
                stats[entry.key] = {k: gen.stats[k] - before[k] for k in ("requests", "cached", "sent")}
                stats[entry.key]["failed_or_empty"] = sum(not answers[(q, entry.key)] for q, _ in questions)
        finally:
            gen.close()
    return [e for e in entries if e is not None], answers, stats


def _check_no_votes_elsewhere(out: Path, study: Study) -> None:
    old = out / STUDY_FILE
    if (out / DB_FILE).exists() and old.exists():
        old_id = json.loads(old.read_text()).get("study_id")
        if old_id != study.study_id:
            raise StudyError(
                f"{out}: its study database ({DB_FILE}) already serves study {old_id}; preparing a different "
                "study here would orphan its votes: prepare into another folder"
            )


def prepare(
    out: Path,
    questions_path: Path,
    profiles: list[ModelProfile],
    design: Design,
    *,
    name: str | None = None,
    text_field: str | None = None,
    limit: int | None = None,
    pii: bool = True,
    pii_model: str | None = None,
    review_path: Path | None = None,
    device: str = "auto",
    max_model_len: int = 4096,
) -> tuple[Study, dict[str, Any]]:
    """Prepare (or re-prepare) the study in ``out``; returns it with a summary for the command to print."""
    out = Path(out)
    if len(profiles) < 2 or len({p.label for p in profiles}) != len(profiles):
        raise StudyError("give at least two model profiles with distinct labels")
    questions = read_questions(questions_path, text_field, limit)
    review_file = out / REVIEW_FILE
    decisions = load_review(review_file) | load_review(review_path)
    screened = screen(questions, PiiDetector(pii_model) if pii else None, decisions)
    if screened.review:
        write_review(screened, review_file)
    backends = [backend_of(p, device, max_model_len) for p in profiles]
    entries, answers, stats = generate_answers(screened.kept, profiles, backends, out / "gen_cache")
    meta = {
        "questions": {"source": str(questions_path), "read": len(questions), "used": len(screened.kept),
                      "pii": screened.summary()},
        "generation": {"per_model": stats, "cache": str(out / "gen_cache")},
    }  # fmt: skip
    study = build_study(name or out.name, entries, screened.kept, answers, design, meta)
    _check_no_votes_elsewhere(out, study)
    save_study(study, out)
    return study, {
        "study": str(out / STUDY_FILE), "items": len(study.items), "questions_read": len(questions),
        "flagged": len(screened.review), "pending_review": screened.pending, "dropped": screened.dropped,
        "review_file": str(review_file) if screened.review else None, "generation": stats,
        "left_out": study.generation["left_out"],
    }  # fmt: skip
