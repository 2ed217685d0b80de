"""The package as the package index would carry it: `python -m build`, `twine check`, and the
wheel installed into a fresh virtual environment, away from this repository.

One module-scoped build feeds every test; the installed wheel is then run from a temporary
folder with no PYTHONPATH, so nothing can be imported from the source tree by accident. The
tests need the network only as `pip install` does (build backend and dependencies from the
package index); they are marked slow.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def pyproject_project_table() -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10: read the two values the tests need by hand
        version = re.search(r'^version = "([^"]+)"', PYPROJECT, re.M)
        urls = dict(re.findall(r'^(\w+) = "(https://[^"]+)"', PYPROJECT, re.M))
        return {"version": version.group(1) if version else None, "urls": urls}
    return tomllib.loads(PYPROJECT)["project"]


PROJECT = pyproject_project_table()


def run(command: list, **options) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, **options)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """{"sdist": path, "wheel": path}: built as `make dist` builds them (the wheel from the
    sdist, so the sdist is known to hold what the wheel needs)."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)])
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> Path:
    """The python of a fresh venv with only the wheel (and its [plot] extra) installed."""
    env_dir = tmp_path_factory.mktemp("wheel-venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # --no-compile: no .pyc files written for numpy and matplotlib, a good part of the time
    pip = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--disable-pip-version-check",
    ]
    run([*pip, f"{built['wheel']}[plot]"])
    return python


def test_twine_check_passes_on_both(built):
    done = run([sys.executable, "-m", "twine", "check", "--strict", *map(str, built.values())])
    assert done.stdout.count("PASSED") == 2


def test_the_description_is_the_readme_with_absolute_links(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        (metadata_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = wheel.read(metadata_name).decode("utf-8")
    assert "Description-Content-Type: text/markdown" in metadata
    description = metadata.split("\n\n", 1)[1]
    assert "# tinygrad_scalar" in description and "## Neural networks" in description
    targets = re.findall(r"\]\(([^)\s]+)\)", description)
    assert targets, "the README has links and pictures"
    relative = [t for t in targets if not t.startswith("https://")]
    assert relative == [], f"links the package index cannot follow: {relative}"
    source = PROJECT["urls"]["Source"]
    pictures = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", description)
    assert pictures and all(p.startswith(source.replace("github.com", "raw.githubusercontent.com"))
                            for p in pictures)  # fmt: skip
    for label in ("Documentation", "Source", "Issues"):
        assert f"Project-URL: {label}, {PROJECT['urls'][label]}" in metadata


def test_the_wheel_carries_the_data_and_py_typed(built):
    names = zipfile.ZipFile(built["wheel"]).namelist()
    assert "tinygrad_scalar/py.typed" in names
    assert "tinygrad_scalar/datasets/dist.female.first" in names
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "docs/"))]


CHECKS = r"""
import json, sys, importlib.resources
import tinygrad_scalar as ts
from tinygrad_scalar import data, draw, Value
x, y = Value(2.0, "x"), Value(-3.0, "y")
out = (x * y).tanh(); out.label = "out"; out.backward()
print(json.dumps({
    "file": ts.__file__,
    "path": sys.path,
    "version": ts.__version__,
    "names": len(data.load_names()),
    "py_typed": importlib.resources.files("tinygrad_scalar").joinpath("py.typed").is_file(),
    "svg": draw(out).svg(),
}))
"""


def test_the_installed_wheel_works_away_from_the_repository(installed, tmp_path):
    done = run([str(installed), "-c", CHECKS], cwd=tmp_path)
    facts = json.loads(done.stdout)
    site_packages = installed.parent.parent
    assert Path(facts["file"]).is_relative_to(site_packages), facts["file"]
    assert not [p for p in facts["path"] if p and Path(p).resolve().is_relative_to(ROOT)]
    assert facts["version"] == PROJECT["version"]
    assert facts["names"] == 5163
    assert facts["py_typed"] is True
    svg = facts["svg"]
    assert svg.lstrip().startswith(("<?xml", "<svg")) and svg.rstrip().endswith("</svg>")
    assert ">out<" in svg  # the root's label, drawn


def test_the_installed_command_runs_the_demo(installed, tmp_path):
    command = installed.parent / "tinygrad-scalar"
    out = tmp_path / "demo-out"
    done = run([str(command), "demo", "--out", str(out)], cwd=tmp_path)
    assert "accuracy" in done.stdout.lower()
    written = sorted(p.name for p in out.iterdir())
    assert {"model.json", "loss.png", "decision_boundary.png", "neuron.svg"} <= set(written)
    version = run([str(command), "--version"], cwd=tmp_path).stdout.strip()
    assert version == f"tinygrad-scalar {PROJECT['version']}"
