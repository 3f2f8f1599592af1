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


def _runtime_and_extras() -> dict[str, str]:
    """Core dependencies plus every user extra (not `test`), without the self-references."""
    project = _pyproject()
    reqs = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        if extra != "test":
            reqs += [r for r in items if _name(r) != "maskbench"]
    return {_name(r): r.replace(" ", "") for r in reqs}


def test_runtime_dependencies_agree() -> None:
    conda, _ = _environment()
    runtime = _runtime_and_extras()
    assert set(runtime) == set(conda)
    for name, req in runtime.items():
        version = req[len(name) :]
        assert conda[name].endswith(version), (name, req, conda[name])


def test_test_extra_agrees() -> None:
    extra = {_name(r): r.replace(" ", "") for r in _pyproject()["optional-dependencies"]["test"]}
    _, pip = _environment()
    assert extra == pip


def test_design_card_dependencies_present() -> None:
    names = set(_runtime_and_extras())
    assert {"torch", "numpy", "matplotlib", "ipywidgets", "anywidget", "jupyterlab", "pillow", "scikit-image"} <= names
    assert all("==" not in r for r in _runtime_and_extras().values()), "torch and friends stay unpinned for users"


def test_kernels_install_without_the_jupyter_stack() -> None:
    """The packaging decision (README, "Install"): core = kernels, io, data; the Jupyter stack is an extra."""
    project = _pyproject()
    core = {_name(r) for r in project["dependencies"]}
    assert core == {"torch", "numpy", "scipy", "pillow", "scikit-image", "tqdm"}
    extras = project["optional-dependencies"]
    assert {_name(r) for r in extras["widgets"]} == {"ipywidgets", "anywidget", "matplotlib"}
    assert {"maskbench[widgets]", "jupyterlab>=4.0"} <= set(extras["lab"])
    assert {_name(r) for r in extras["dask"]} == {"distributed"}
    assert extras["all"] == ["maskbench[lab,dask]"]
    makefile = (ROOT / "Makefile").read_text()
    assert '-e ".[all,test]"' in makefile


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
