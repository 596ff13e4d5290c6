"""The project's own files install what it needs, and agree with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_pip_section() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.strip() == "- pip:")
    reqs = []
    for line in lines[start + 1 :]:
        m = re.match(r"^\s+- (.+)$", line)
        if not m:
            break
        reqs.append(m.group(1).strip())
    return reqs


def test_environment_yml_matches_pyproject():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    expected = project["dependencies"] + extras["tensorflow"] + extras["lessons"]
    pip_section = _environment_pip_section()
    assert "-e ." in pip_section  # the package itself, from the checkout
    assert sorted(r for r in pip_section if r != "-e .") == sorted(expected)


def test_no_backend_is_forced_on_a_runtime_that_has_another():
    # A course's GPU runtime brings JAX or PyTorch; installing the package must not pull in
    # TensorFlow (GBs) there. The default backend is an extra, which make demo/test install.
    project = _pyproject()["project"]
    backends = ("tensorflow", "jax", "torch")
    assert not [r for r in project["dependencies"] if re.match(r"^(%s)\b" % "|".join(backends), r)]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r'pip install .*-e "\.\[tensorflow,lessons\]"', makefile)
    assert re.search(r'pip install .*-e "\.\[tensorflow,lessons,test\]"', makefile)


def test_torch_is_pinned_to_the_cpu_build():
    # An unpinned torch pulls a multi-GB CUDA build; the tests need exactly 2.13.0.
    extras = _pyproject()["project"]["optional-dependencies"]
    all_reqs = _pyproject()["project"]["dependencies"] + sum(extras.values(), [])
    torch = [r for r in all_reqs if re.match(r"^torch\b", r)]
    assert torch == ["torch==2.13.0"]
    assert "torch" not in (ROOT / "environment.yml").read_text()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci.splitlines()[-1]
    assert "make test" in readme and "make demo" in readme
