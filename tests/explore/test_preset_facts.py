"""Lesson 00's table: every figure is read from the configs a pipeline runs with."""

import json

from explainer.assets import asset_path
from explainer.explore.preset_facts import facts_table, preset_facts, resolved
from explainer.models.configs import PRESETS


def test_facts_come_from_the_configs():
    sd = preset_facts(PRESETS["sd-v1-5"])
    assert sd["params: UNet"] == "859,520,964" and sd["latent scale k"] == "0.18215"
    assert sd["latent x_T"] == "64×64×4" and sd["context c"] == "77×768"
    tiny = preset_facts(resolved("tiny-shapes"))
    shipped = json.loads((asset_path("tiny-shapes") / "vae" / "config.json").read_text())
    assert tiny["latent scale k"] == f"{shipped['scaling_factor']:.5g}"  # the folder's, not the default
    assert tiny["image"] == "64×64×3" and tiny["default run"] == "PNDM, 25 steps, s = 2"


def test_the_table_has_one_row_per_fact_and_both_presets():
    text = facts_table()
    assert text.splitlines()[0].split() == ["tiny-shapes", "sd-v1-5"]
    for label in preset_facts(PRESETS["sd-v1-5"]):
        assert label.split(":")[0] in text
    assert "LAION" in text and "drawn shapes" in text
