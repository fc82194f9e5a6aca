"""Where entries live in a content folder, and its version, without loading it.

The layout is the loader's (bot/knowledge.py): FAQ entries are lists in faq/*.yaml (the file's name is only
a habit: insurance.yaml holds `portal` entries), a guide is guides/<id>.yaml, locality values are in
locality.yaml. Retired entries go to retired/, a folder the loader never reads: retiring needs no loader
change, the entry stays readable in YAML and its revision brings it back.

The version is the loader's `KnowledgeBase.version` (a hash over the files it reads), computed here from the
same files and the same function, so a conflict check costs a hash, not a load (tests/test_content_edit.py
checks both agree).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..knowledge import ID_RE, MAX_ID_LEN, _content_version

KINDS = ("faq", "guide")
FAQ_DIR = "faq"
GUIDE_DIR = "guides"
RETIRED_DIR = "retired"
RETIRED_FAQ = "retired/faq.yaml"
RETIRED_GUIDES = "retired/guides"
LOCALITY = "locality.yaml"
_TOP_FILES = ("locality.yaml", "lexicon.yaml", "topics.yaml", "messages.yaml")
_REL = re.compile(r"^(?:[a-z0-9_-]+/){0,2}[a-z0-9_.-]+\.yaml$")


def valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(ID_RE.match(value)) and len(value) <= MAX_ID_LEN


def guide_file(guide_id: str) -> str:
    return f"{GUIDE_DIR}/{guide_id}.yaml"


def retired_guide_file(guide_id: str) -> str:
    return f"{RETIRED_GUIDES}/{guide_id}.yaml"


def faq_files(content_dir: Path) -> list[str]:
    """FAQ files the loader reads, as paths relative to the content folder."""
    names = [f"{FAQ_DIR}/{p.name}" for p in sorted((content_dir / FAQ_DIR).glob("*.yaml"))]
    return names + (["faq.yaml"] if (content_dir / "faq.yaml").exists() else [])


def guide_files(content_dir: Path) -> list[str]:
    return [f"{GUIDE_DIR}/{p.name}" for p in sorted((content_dir / GUIDE_DIR).glob("*.yaml"))]


def loaded_files(content_dir: Path) -> list[Path]:
    """Exactly the files load_knowledge reads (and hashes into the version)."""
    names = list(_TOP_FILES)
    if (content_dir / "out_of_scope.yaml").exists():
        names.append("out_of_scope.yaml")
    return [content_dir / n for n in names + faq_files(content_dir) + guide_files(content_dir)]


def content_version(content_dir: Path) -> str:
    """KnowledgeBase.version of what is on disk now."""
    return _content_version([p for p in loaded_files(content_dir) if p.exists()])


def safe_rel(rel: str) -> bool:
    """A relative path this package may write: inside the content folder, no '..', a YAML file."""
    return bool(_REL.match(rel)) and ".." not in rel
