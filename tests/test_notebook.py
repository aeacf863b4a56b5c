"""examples/journey.ipynb: stored without outputs, and runs top to bottom in a kernel of this venv.

The kernel is declared in a temporary JUPYTER_PATH pointing at this interpreter, so the notebook
runs with the facexp under test (never another Python found on the machine) and without network.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from helpers import shared_path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "journey.ipynb"
KERNEL = "facexp-test"


def test_the_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "the notebook has no code cells"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"outputs left in: {cell.source[:60]!r}"
    assert "widgets" not in nb.metadata


def _kernel_in_this_venv(root: Path) -> None:
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "facexp under test", "language": "python"}))


def cells_key(cells: dict, start: str) -> str:
    return next(key for key, cell in cells.items() if cell.source.startswith(start))


def _html(cell) -> str:
    return "".join(out.get("data", {}).get("text/html", "") for out in cell.outputs)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    shared = shared_path("photos").parent
    shared_path("fer2013", "train")
    _kernel_in_this_venv(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("FACEXP_SHARED_DATA", str(shared))
    monkeypatch.setenv("FACEXP_WORK", str(tmp_path / "work"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # any cell error raises CellExecutionError with the cell and its traceback
    NotebookClient(nb, kernel_name=KERNEL, timeout=240, resources={"metadata": {"path": str(tmp_path)}}).execute()

    cells = {cell.source.strip().splitlines()[-1]: cell for cell in nb.cells if cell.cell_type == "code"}
    assert "suspects" in _html(cells["suspects"]) and "data:image/jpeg" in _html(cells["suspects"])
    assert "valid accuracy" in _html(cells["run"]) and "data:image/png" in _html(cells["run"])
    evaluation = _html(cells["report"])
    assert "Confusion matrix" in evaluation and "Grad-CAM" in evaluation
    assert _html(cells["results"]).count("<figure") == 3
    group = _html(cells["group"])
    assert "#1" in group and "#4" in group  # four clear faces in the meeting photo
    printed = "".join(out.get("text", "") for out in cells[cells_key(cells, "for i, face")].outputs)
    assert printed.startswith("#1 (")
    assert (tmp_path / "work" / "run" / "report" / "report.html").is_file()
    assert not (ROOT / "examples" / "runs").exists()  # the work folder was the test's, not the repo's

