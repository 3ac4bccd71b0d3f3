"""Prompt files: every agent has v1 and v2, they parse, and their hashes identify them."""

from __future__ import annotations

import hashlib

import pytest

from evalkit.errors import ConfigError
from evalkit.reference.prompting import PROMPT_DIR, available_versions, load_prompt


@pytest.mark.parametrize("agent", ["researcher", "writer", "verifier"])
def test_v1_and_v2_exist_and_differ(agent):
    assert {"v1", "v2"} <= set(available_versions(agent))
    v1, v2 = load_prompt(agent, "v1"), load_prompt(agent, "v2")
    assert v1.system != v2.system
    assert v1.sha256 == hashlib.sha256((PROMPT_DIR / agent / "v1.md").read_bytes()).hexdigest()
    assert v1.sha256 != v2.sha256
    assert "$question" in v2.user_template


def test_render_fills_the_template_and_keeps_json_braces():
    prompt = load_prompt("writer", "v2")
    messages = prompt.render(question="Q?", evidence="1. [pass] x")
    assert messages[0] == {"role": "system", "content": prompt.system}
    assert '{"chosen": [1, 2]' in prompt.system
    assert messages[1]["content"].endswith("Question: Q?")


def test_notes_before_the_first_section_are_not_sent():
    prompt = load_prompt("researcher", "v2")
    assert "Changes from v1" not in prompt.system


@pytest.mark.parametrize("version", ["v9", "latest", "../writer/v1"])
def test_unknown_versions_are_config_errors(version):
    with pytest.raises(ConfigError) as info:
        load_prompt("writer", version)
    assert info.value.key == "params.prompt_version"
