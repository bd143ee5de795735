"""Every recipe shipped in recipes/ validates (schema, bounds, column chain, artifacts) as it is."""

from __future__ import annotations

import pytest
import yaml
from tests_paths import ROOT

from factory.recipe import load_recipe

RECIPES = sorted(
    p for p in (ROOT / "recipes").rglob("*.yaml") if isinstance(yaml.safe_load(p.read_text()), dict)
)


def test_recipes_found():
    names = {p.name for p in RECIPES}
    assert {"quickstart.yaml", "medical_basic.yaml", "aloe_beta.yaml", "aloe_beta_redteam.yaml"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT / "recipes")))
def test_shipped_recipe_validates(path):
    recipe = load_recipe(path)
    assert recipe.name and recipe.sources and recipe.outputs
