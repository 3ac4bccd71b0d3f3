"""Prompt versions as files: ``evalkit/reference/prompts/<agent>/<version>.md``.

A prompt file is Markdown with two sections, ``## system`` and ``## user``; the user
section is a :class:`string.Template` (``$question``, ``$evidence``), so JSON braces
in few-shot examples need no escaping. Anything before the first section is notes
for humans (what changed in this version and why) and is not sent to the model.

The content hash of the whole file is what identifies a prompt in spans and in the
run manifest: editing a prompt without bumping its version still shows up.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from evalkit.errors import ConfigError

PROMPT_DIR = Path(__file__).parent / "prompts"
_SECTION = re.compile(r"^## (system|user)\s*$", re.MULTILINE)
_VERSION = re.compile(r"^v\d+[a-z0-9_.-]*$")


@dataclass(frozen=True, slots=True)
class Prompt:
    """One version of one agent's prompt."""

    agent: str
    version: str
    system: str
    user_template: str
    sha256: str

    def render(self, **values: str) -> list[dict[str, str]]:
        """Chat messages with the user template filled in."""
        user = string.Template(self.user_template).safe_substitute(values)
        return [{"role": "system", "content": self.system},
                {"role": "user", "content": user}]

    @property
    def span_attributes(self) -> dict[str, str]:
        """Attributes identifying this prompt on a span."""
        return {
            "evalkit.prompt.name": self.agent,
            "evalkit.prompt.version": self.version,
            "evalkit.prompt.sha256": self.sha256,
        }


def available_versions(agent: str) -> list[str]:
    """Versions that exist for *agent*, sorted."""
    folder = PROMPT_DIR / agent
    return sorted(p.stem for p in folder.glob("*.md")) if folder.is_dir() else []


@lru_cache(maxsize=64)
def load_prompt(agent: str, version: str) -> Prompt:
    """Read and parse ``prompts/<agent>/<version>.md``.

    Raises:
        ConfigError: the version does not exist or the file lacks a section.
    """
    if not _VERSION.match(version):
        raise ConfigError(f"prompt version {version!r} must look like v1, v2, …",
                          key="params.prompt_version")
    path = PROMPT_DIR / agent / f"{version}.md"
    if not path.is_file():
        known = ", ".join(available_versions(agent)) or "none"
        raise ConfigError(f"no prompt {agent}/{version} (available: {known})",
                          path=path, key="params.prompt_version")
    raw = path.read_text(encoding="utf-8")
    parts = _SECTION.split(raw)
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    missing = [s for s in ("system", "user") if not sections.get(s)]
    if missing:
        raise ConfigError(f"missing section(s) {', '.join('## ' + m for m in missing)}",
                          path=path)
    return Prompt(
        agent=agent,
        version=version,
        system=sections["system"],
        user_template=sections["user"],
        sha256=hashlib.sha256(raw.encode("utf-8")).hexdigest(),
    )
