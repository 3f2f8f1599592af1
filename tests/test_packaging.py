"""Packaging: pyproject and environment.yml agree; `import maskbench` stays light."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _environment() -> tuple[dict[str, str], dict[str, str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.update({_name(r): r.replace(" ", "") for r in dep["pip"]})
        elif _name(dep) not in ("python", "pip"):
            conda[CONDA_TO_PIP.get(_name(dep), _name(dep))] = dep.replace(" ", "")
    return conda, pip


def test_runtime_dependencies_agree() -> None:
    project = _pyproject()
    conda, _ = _environment()
    runtime = {_name(r): r.replace(" ", "") for r in project["dependencies"]}
    assert set(runtime) == set(conda)
    for name, req in runtime.items():
        version = req[len(name):]
        assert conda[name].endswith(version), (name, req, conda[name])


def test_test_extra_agrees() -> None:
    extra = {_name(r): r.replace(" ", "") for r in _pyproject()["optional-dependencies"]["test"]}
    _, pip = _environment()
    assert extra == pip


def test_design_card_dependencies_present() -> None:
    names = {_name(r) for r in _pyproject()["dependencies"]}
    assert {"torch", "numpy", "matplotlib", "ipywidgets", "anywidget", "jupyterlab", "pillow", "scikit-image"} <= names
    assert all("==" not in r for r in _pyproject()["dependencies"]), "torch and friends stay unpinned for users"


def test_import_does_not_pull_jupyter_stack() -> None:
    code = (
        "import sys, maskbench\n"
        "for name in maskbench.__all__:\n"
        "    getattr(maskbench, name)\n"
        "heavy = [m for m in ('ipywidgets', 'anywidget', 'matplotlib', 'traitlets', 'PIL', 'skimage') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print('ok', len(maskbench.__all__))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_unknown_attribute_is_attribute_error() -> None:
    import maskbench

    try:
        maskbench.not_a_function  # noqa: B018
    except AttributeError as err:
        assert "not_a_function" in str(err)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_readme_example_runs() -> None:
    """The README's first Python example runs as written (and its empty-mask loss is 0, not NaN)."""
    readme = (ROOT / "README.md").read_text()
    code = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["loss"].item() == 0.0
    assert namespace["kept"].shape == namespace["image"].shape
