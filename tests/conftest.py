import shutil
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.knowledge import load_knowledge
from bot.matcher import Matcher
from bot.state import MemoryStateStore

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"


@pytest.fixture(scope="session")
def kb():
    return load_knowledge(CONTENT)


@pytest.fixture(scope="session")
def matcher(kb):
    return Matcher(kb)


@pytest.fixture
def engine(kb, matcher):
    return Engine(kb, MemoryStateStore(), salt="test-salt", matcher=matcher)


@pytest.fixture
def content_copy(tmp_path):
    """A writable copy of the real content, to break on purpose."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    return target
