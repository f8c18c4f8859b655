"""CI runs exactly what the README tells a new user to run."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands():
    spec = importlib.util.spec_from_file_location("readme_commands", ROOT / ".ci" / "readme_commands.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_lines_are_single_commands():
    mod = _readme_commands()
    setup = mod.readme_command("setup")
    assert setup.startswith("pip install torch==") and 'pip install -e ".[all,peers,test]"' in setup
    assert mod.readme_command("test") == "python -m pytest"


def test_ci_run_uses_a_fresh_venv_and_the_readme_lines():
    run = (ROOT / ".ci" / "run").read_text()
    assert "-m venv" in run and "mktemp -d" in run
    assert ".ci/readme_commands.py setup" in run and ".ci/readme_commands.py test" in run
    # no install or test command of its own besides the README's
    assert "pip install" not in run and "pytest" in run and "-m pytest" not in run


def test_readme_extraction_rejects_drift():
    mod = _readme_commands()
    two_lines = "# x\n\n## Set-up\n\n```bash\npip install a\npip install b\n```\n\n## Next\n"
    with pytest.raises(ValueError, match="exactly one command"):
        mod.readme_command("setup", two_lines)
    with pytest.raises(ValueError, match="no heading"):
        mod.readme_command("test", two_lines)
    out = subprocess.run([sys.executable, str(ROOT / ".ci" / "readme_commands.py"), "test"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "python -m pytest"
