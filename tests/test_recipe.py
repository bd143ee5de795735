"""Recipe loading: validation with paths and lines, extends, --set, the JSON schema, the column chain."""

from __future__ import annotations

import json
import textwrap

import pytest

from factory.errors import RecipeError
from factory.recipe import load_recipe, recipe_json_schema

BASE = """
name: demo
system_prompt: You are a careful medical assistant.
sources:
  - name: qa
    path: qa.jsonl
    adapter: medquad
stages:
  - type: normalize
  - type: length_filter
    min_chars: 10
  - type: to_chat
outputs:
  sft: {format: messages}
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(exc: RecipeError) -> dict[str, str]:
    return {where: msg for where, msg in exc.problems}


def test_valid_recipe_resolves_system_prompt_into_stage(tmp_path):
    r = load_recipe(write(tmp_path, "r.yaml", BASE))
    assert [s.stage_name for s in r.stages] == ["normalize", "length_filter", "to_chat"]
    assert r.stages[2].system_prompt == "You are a careful medical assistant."
    assert r.base_dir == tmp_path


def test_unknown_key_and_bound_errors_name_path_and_line(tmp_path):
    text = BASE.replace("    min_chars: 10", "    min_chars: -3\n    min_chras: 4").replace(
        "name: demo", "name: demo\nstorage: x"
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, "r.yaml", text))
    found = problems(info.value)
    assert any(k.startswith("storage (r.yaml:3)") for k in found), found
    assert any(
        k.startswith("stages[1].min_chars (r.yaml:") and "greater than or equal to 0" in v
        for k, v in found.items()
    ), found
    assert any(k.startswith("stages[1].min_chras") and "Extra inputs" in v for k, v in found.items()), found
    assert "r.yaml" in str(info.value)


def test_unknown_stage_type_and_source_origin(tmp_path):
    text = BASE.replace("type: to_chat", "type: to_chatt").replace("    path: qa.jsonl\n", "")
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, "r.yaml", text))
    msg = str(info.value)
    assert "stages[2]" in msg and "to_chatt" in msg and "'normalize'" in msg  # lists the valid tags
    assert "sources[0]" in msg and "exactly one of `path`" in msg


def test_yaml_syntax_error_has_line(tmp_path):
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, "r.yaml", "name: x\nsources: [\n  - a: b\n"))
    assert "line" in str(info.value) and "not valid YAML" in str(info.value)


def test_extends_and_set_overrides(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(
        tmp_path,
        "child.yaml",
        """
        extends: base.yaml
        name: child
        executor: {kind: local}
        """,
    )
    r = load_recipe(
        child, ["stages.length_filter.min_chars=42", "stages.0.remove_urls=false", "outputs.sft.shard_rows=7"]
    )
    assert r.name == "child" and r.executor.kind == "local"
    assert (
        r.stages[1].min_chars == 42 and r.stages[0].remove_urls is False and r.outputs["sft"].shard_rows == 7
    )
    assert r.system_prompt.startswith("You are")  # inherited
    with pytest.raises(RecipeError) as info:
        load_recipe(child, ["stages.nope.min_chars=1"])
    assert "no item 'nope'" in str(info.value)
    with pytest.raises(RecipeError) as info:
        load_recipe(child, ["stages.length_filter.min_chars=minus"])
    assert "stages[1].min_chars" in str(info.value)


def test_set_block_is_a_profile_over_the_extends_chain(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    write(
        tmp_path,
        "mid.yaml",
        """
        extends: base.yaml
        name: mid
        set:
          stages.length_filter.min_chars: 30
          outputs.sft.shard_rows: 5
        """,
    )
    small = write(
        tmp_path,
        "small.yaml",
        """
        extends: mid.yaml
        name: small
        set: {stages.length_filter.min_chars: 60}
        """,
    )
    r = load_recipe(small)
    # the child's `set:` applies after the parent's; the stage list itself is not restated
    assert r.name == "small" and r.stages[1].min_chars == 60 and r.outputs["sft"].shard_rows == 5
    assert [s.type for s in r.stages] == ["normalize", "length_filter", "to_chat"]
    assert load_recipe(small, ["stages.length_filter.min_chars=70"]).stages[1].min_chars == 70  # --set last
    bad = write(tmp_path, "bad.yaml", "extends: base.yaml\nname: bad\nset: {stages.nope.min_chars: 1}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(bad)
    assert "no item 'nope'" in str(info.value) and "bad.yaml" in str(info.value)
    with pytest.raises(RecipeError, match="a mapping of KEY.PATH"):
        load_recipe(write(tmp_path, "bad2.yaml", "extends: base.yaml\nname: b2\nset: [x]\n"))


def test_output_sources_are_checked(tmp_path):
    text = BASE.replace("  sft: {format: messages}", "  sft: {format: messages, sources: [qa, nosuch]}")
    with pytest.raises(RecipeError, match="output 'sft': unknown sources \\['nosuch'\\]"):
        load_recipe(write(tmp_path, "r.yaml", text))


def test_extends_cycle_and_missing_parent(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    with pytest.raises(RecipeError, match="cycle"):
        load_recipe(tmp_path / "a.yaml")
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(write(tmp_path, "c.yaml", "extends: missing.yaml\nname: c\n"))


def test_cross_checks(tmp_path):
    dup_stage = BASE.replace("  - type: to_chat", "  - type: to_chat\n  - type: to_chat")
    with pytest.raises(RecipeError, match="stage names must be unique"):
        load_recipe(write(tmp_path, "r.yaml", dup_stage))
    bad_mix = BASE.replace("  - type: to_chat", "  - type: to_chat\n  - type: mix\n    caps: {nosuch: 3}")
    with pytest.raises(RecipeError, match="unknown source 'nosuch'"):
        load_recipe(write(tmp_path, "r.yaml", bad_mix))


def test_column_chain_checked_before_running(tmp_path):
    text = BASE.replace(
        "  - type: to_chat", "  - type: threshold\n    column: lang\n    allowed: [en]\n  - type: to_chat"
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, "r.yaml", text))
    assert "stages[2] (threshold)" in str(info.value) and "['lang']" in str(info.value)
    ok = text.replace("  - type: threshold", "  - type: language_id\n  - type: threshold")
    assert load_recipe(write(tmp_path, "r.yaml", ok)).stages[3].column == "lang"


def test_json_schema_lists_stage_types():
    schema = recipe_json_schema()
    text = json.dumps(schema)
    for key in ("sources", "stages", "outputs", "executor", "system_prompt"):
        assert key in schema["properties"]
    for stage in ("normalize", "length_filter", "language_id", "threshold", "exact_dedup", "to_chat", "mix"):
        assert f'"{stage}"' in text


def test_missing_required_field_is_named(tmp_path):
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, "r.yaml", BASE.replace("    adapter: medquad\n", "")))
    assert "sources[0].adapter" in problems(info.value).__repr__()


def test_yaml_on_key_is_a_string_and_booleans_are_yaml_1_2(tmp_path):
    text = BASE.replace("  - type: to_chat", "  - type: exact_dedup\n    on: question\n  - type: to_chat")
    r = load_recipe(write(tmp_path, "r.yaml", text), ["stages.length_filter.min_chars=12"])
    assert r.stages[2].on == "question" and r.stages[1].min_chars == 12
    r = load_recipe(write(tmp_path, "r.yaml", BASE), ["stages.normalize.remove_urls=false"])
    assert r.stages[0].remove_urls is False
