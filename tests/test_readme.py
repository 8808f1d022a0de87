"""The README's examples run: the "Testing your bot" test passes in a fresh pytest, through the plugin."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def python_blocks(section: str) -> list[str]:
    text = README.read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end != -1 else None], re.S)


def test_testing_your_bot_example_passes_with_the_installed_fixture(tmp_path: Path) -> None:
    example = python_blocks("Testing your bot")[0]
    assert "fake_3commas" in example
    (tmp_path / "test_example.py").write_text(example)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make demo" in text
    assert "make test" in text
    assert "make test" in (Path(__file__).parent.parent / ".ci" / "run").read_text()
