"""The one generation client (``factory.llm.client``): a model swapped behind a server's name during an
evaluation, and a model that cannot be found, told once before any row is read.

The swap test needs a server whose model can change behind one name while the test runs: a small
OpenAI-compatible stand-in (``ServedModel``, started here on 127.0.0.1) plays the remote inference server
that would serve it in production (vLLM, SGLang, a hosted API). It reports ``id`` and ``root`` at
``/v1/models`` as vLLM does and answers chat completions with the root it serves and the question, so an
answer shows which weights wrote it. Everything else (the eval context, the generator, the cache, the
HTTP runner) is the real code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests_paths import ROOT

from factory.errors import StageError
from factory.llm.client import Generator, ModelClient
from factory.llm.identity import ModelNotFoundError, resolve_reference
from factory.llm.types import OpenAIBackend, Request, SamplingConfig, VLLMBackend
from train.eval.generative import EvalContext
from train.eval.specs import GenerativeSpec


class ServedModel:
    """TEST DOUBLE for a remote OpenAI-compatible inference server: serves ``root`` under ``name``; set
    ``root`` to swap the weights behind the name. ``chats`` counts the chat completions answered."""

    def __init__(self, name: str, root: str):
        self.name, self.root, self.chats = name, root, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                models = [{"id": outer.name, "object": "model", "root": outer.root, "owned_by": "standin"}]
                self._send({"object": "list", "data": models})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.chats += 1
                question = body["messages"][-1]["content"]
                message = {"role": "assistant", "content": f"[{outer.root}] {question}"}
                self._send({"model": body["model"], "choices": [{"index": 0, "message": message,
                                                                 "finish_reason": "stop"}]})  # fmt: skip

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served():
    server = ServedModel("teacher", "/models/teacher-v1")
    yield server
    server.stop()


def _context(server: ServedModel, out_dir: Path) -> EvalContext:
    spec = GenerativeSpec(generator=OpenAIBackend(base_url=server.base_url, model="teacher", max_retries=0))
    return EvalContext(out_dir, out_dir, out_dir, spec, system_prompt=None, system_prompt_source="none")


QUESTIONS = [Request(f"q{i}", [{"role": "user", "content": f"What causes symptom {i}?"}],
                     SamplingConfig(max_tokens=8, seed=i)) for i in range(3)]  # fmt: skip


def test_an_eval_never_reuses_answers_of_a_model_swapped_behind_the_server_name(served, tmp_path):
    """First eval: answers from v1, asked once (a rerun is all cache). The server swaps to v2 behind the
    same name: the running eval stops with an error, and a new eval asks v2 again, reusing nothing."""
    first = _context(served, tmp_path)
    texts = [r.first_text for r in first.generator.ask(QUESTIONS)]
    assert texts == [f"[/models/teacher-v1] What causes symptom {i}?" for i in range(3)]
    assert [r.first_text for r in first.generator.ask(QUESTIONS)] == texts  # the cache answered
    assert first.generator.stats["sent"] == 3 and first.generator.stats["cached"] == 3 and served.chats == 3
    assert first.generator.model_id == "teacher served=/models/teacher-v1"

    served.root = "/models/teacher-v2"
    with pytest.raises(StageError, match="the evaluated model: the server now serves 'teacher' from "
                                         "/models/teacher-v2 .*it was /models/teacher-v1"):  # fmt: skip
        first.generator.ask(QUESTIONS)
    assert served.chats == 3  # nothing was sent, nothing mixed
    first.close()

    second = _context(served, tmp_path)  # same results folder, same answer cache folder
    answers = second.generator.ask(QUESTIONS)
    assert [r.first_text for r in answers] == [t.replace("-v1]", "-v2]") for t in texts]
    assert not any(r.cached for r in answers) and second.generator.stats["cached"] == 0
    assert served.chats == 6
    assert len(list((tmp_path / "gen_cache").glob("teacher-*.sqlite"))) == 2  # one per served model
    second.close()


def test_eval_and_synthesis_build_the_same_cache_id(served, tmp_path):
    """A generation stage and an eval generator on the same backend key their answers alike."""
    from synth.generate import Generate

    backend = OpenAIBackend(base_url=served.base_url, model="teacher", revision="v1")
    stage = Generate(backend=backend, prompt="{{ question }}")
    gen = Generator(backend, tmp_path)
    assert gen.model_id == stage.client().cache_id() == "teacher served=/models/teacher-v1 rev=v1"
    assert stage.input_fingerprint() == {"revision": "v1", "served": "/models/teacher-v1"}
    gen.close()


def test_model_references_resolve_to_folders_or_one_clear_error(tmp_path, monkeypatch):
    folder = tmp_path / "data" / "models" / "mine"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert resolve_reference("models/mine", (tmp_path / "data",)) == str(folder)  # against the data folder
    monkeypatch.chdir(tmp_path / "data")
    assert resolve_reference("models/mine") == str(folder)  # then the cwd
    client = ModelClient(VLLMBackend(model="models/mine"), (tmp_path,))
    assert client.backend.model == str(folder) and client.cache_id().startswith(f"{folder}@")

    gone = tmp_path / "gone"
    with pytest.raises(ModelNotFoundError) as err:  # an absolute path: never a Hub id, the Hub is not asked
        resolve_reference(str(gone), owner="stage 'cot'")
    text = str(err.value)
    assert text.startswith(f"stage 'cot': model '{gone}' cannot be found. Tried:")
    assert f"a local folder: {gone} (none exists)" in text and "not one of smollm2-135m" in text
    assert "an absolute path is not a Hub id" in text and err.value.loc == ("backend", "model")

    with pytest.raises(ModelNotFoundError, match=f"the evaluated model: model '{gone}' cannot be found"):
        Generator(VLLMBackend(model=str(gone)), tmp_path / "gen_cache", owner="the evaluated model")
    assert not (tmp_path / "gen_cache").exists()  # nothing opened


def test_a_cot_stage_whose_model_cannot_be_found_fails_the_build_before_any_step(tmp_path):
    """The shipped CoT demo with ``backend: {kind: vllm, model: no-such-model-xyz}``, built by the CLI from
    another folder, offline: a few lines naming the stage, its recipe line and what was tried; exit 2; no
    step ran (nothing loaded, nothing in the store's cache)."""
    text = (ROOT / "recipes" / "synth" / "cot_demo.yaml").read_text()
    data = ROOT / "recipes" / "data" / "quickstart"
    text = text.replace("data_dir: ../data/quickstart", f"data_dir: {data}")
    old = 'backend: {kind: openai, base_url: "http://127.0.0.1:8000/v1", model: teacher, max_concurrency: 8}'
    assert old in text
    text = text.replace(old, "backend: {kind: vllm, model: no-such-model-xyz}")
    recipe = tmp_path / "cot_bad.yaml"
    recipe.write_text(text)
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "no-such-model-xyz" in x)
    store = tmp_path / "store"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FACTORY_MODELS": str(tmp_path / "models")}
    cmd = [sys.executable, "-m", "factory.cli.main", "build", str(recipe), "--store", str(store)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    out = done.stdout + done.stderr
    assert "Traceback" not in out and len(out.strip().splitlines()) <= 8, out
    where = f"stages[2].backend.model (cot_bad.yaml:{line})"
    assert f"{where}: stage 'cot': model 'no-such-model-xyz' cannot be found. Tried:" in out
    folders = f"{data / 'no-such-model-xyz'}, {tmp_path / 'no-such-model-xyz'}"
    assert f"a local folder: {folders} (none exists)" in out
    assert "a shipped model: not one of smollm2-135m" in out
    assert "the Hugging Face Hub: offline (HF_HUB_OFFLINE is set)" in out
    assert "source demo_mcqa" not in out and "normalize" not in out  # no step reported
    assert not (store / "cache").exists() or not any((store / "cache").iterdir())
    shutil.rmtree(store, ignore_errors=True)
