import os
import shutil
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.knowledge import load_knowledge
from bot.matcher import Matcher
from bot.state import MemoryStateStore

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"


@pytest.fixture(scope="session", autouse=True)
def data_outside_the_checkout(tmp_path_factory):
    """Commands the tests run (`bot ask`, `bot links`, ...) keep their database and salt next to
    DIGIGUIDE_DB: point it into pytest's temporary folder, so no test writes into the checkout. A test
    that needs its own database passes its own DIGIGUIDE_DB."""
    os.environ["DIGIGUIDE_DB"] = str(tmp_path_factory.mktemp("data") / "digiguide.db")


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
