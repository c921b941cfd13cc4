"""A notebook that uses every subcommand, executed by nbclient in a real kernel.

The kernel reaches the session's embedded server through $ARROYO_URL. A second, short
notebook proves that an error cell fails the run (as papermill/CI need) with the short
message, not a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

KERNEL = "arroyo-magics-test"

EVERY_SUBCOMMAND = [
    "%load_ext arroyo_jupyter\n%config ArroyoMagic.widgets = False\nimport uuid\nname = 'nb_' + uuid.uuid4().hex[:8]",
    "s = %arroyo connect\nassert not s.local, s\ns",
    "%arroyo status",
    "%%arroyo validate\nCREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter FROM impulse;",
    "%%arroyo preview --rows 3 --save rows\nCREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter FROM impulse;",
    "%config ArroyoMagic.widgets = True",
    "%%arroyo preview\nCREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter FROM impulse;",
    "%config ArroyoMagic.widgets = False",
    "%%arroyo create --name {{ name }} --checkpoint-interval 1s\n"
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter FROM impulse;",
    "%arroyo pipelines",
    "%arroyo jobs",
    "%arroyo wait {{ name }} --state Running --timeout 30",
    "out = %arroyo output {{ name }} --rows 2\nout",
    "%arroyo errors {{ name }}",
    "%arroyo checkpoints {{ name }}",
    "%arroyo metrics {{ name }}",
    "%arroyo rescale {{ name }} 2",
    "%arroyo wait {{ name }} --state Running --timeout 30",
    "%arroyo restart {{ name }}",
    "%arroyo wait {{ name }} --state Running --timeout 30",
    "%arroyo stop {{ name }} --mode immediate",
    "%arroyo wait {{ name }} --state Stopped --timeout 30",
    "%arroyo start {{ name }}",
    "%arroyo delete {{ name }} --stop",
    "%%arroyo table\nCREATE TABLE {{ name }}_src WITH (connector = 'impulse', event_rate = '5');",
    "%arroyo tables",
    "%arroyo connectors",
    # UDF cells are Python, so {{ }} is left alone there
    "%%arroyo udf\nfrom arroyo_udf import udf\n\n@udf\ndef nb_plus_one(x: int) -> int:\n    return x + 1",
    "%arroyo udfs",
    "%arroyo disconnect",
    "import json\nprint('RESULT', json.dumps({'rows': len(rows), 'out': len(out)}))",
]


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """A kernelspec for this very interpreter (the venv's own spec says plain `python`)."""
    root = tmp_path_factory.mktemp("kernels")
    spec_dir = root / KERNEL
    spec_dir.mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "arroyo magics test",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(root)])


def execute(cells: list[str], specs: KernelSpecManager, workdir: Path, url: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)
    client = NotebookClient(
        nb, km=km, timeout=90, kernel_name=KERNEL, resources={"metadata": {"path": str(workdir)}}
    )
    env = {"ARROYO_URL": url, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    import os

    client.execute(env={**os.environ, **env})
    return nb


def text_of(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(out.get("data", {}).get("text/plain", ""))
            parts.append(str(out.get("evalue", "")))
    return "\n".join(parts)


def test_notebook_with_every_subcommand_runs(kernel_specs, tmp_path, fresh_server):
    # its own server: the global UDF and table it saves must not leak into other tests
    nb = execute(EVERY_SUBCOMMAND, kernel_specs, tmp_path, fresh_server.url)
    text = text_of(nb)
    result = json.loads(text.split("RESULT ", 1)[1].splitlines()[0])
    assert result == {"rows": 3, "out": 2}
    assert "valid SQL" in text and "deleted nb_" in text
    assert re.search(r"stopped preview pl_\w+ \(disconnect\)", text)  # the live (widget) preview
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


def test_an_error_cell_fails_the_run_with_a_short_message(kernel_specs, tmp_path, arroyo_server):
    cells = [
        "%load_ext arroyo_jupyter",
        "%arroyo connect",
        "%arroyo stop no_such_pipeline",
        "print('not reached')",
    ]
    with pytest.raises(CellExecutionError) as info:
        execute(cells, kernel_specs, tmp_path, arroyo_server.url)
    message = str(info.value)
    assert "UsageError" in message and "no pipeline named 'no_such_pipeline'" in message
    assert "session.py" not in message  # no traceback into our code


def test_completion_through_a_real_kernel(kernel_specs):
    """What every front-end does: a complete_request to the kernel over ZMQ."""
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=kernel_specs)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        kc.execute_interactive("%load_ext arroyo_jupyter", timeout=60)
        code = "%arroyo stop x --mode gra"
        reply = kc.complete(code, len(code), reply=True, timeout=30)["content"]
        assert reply["status"] == "ok"
        assert reply["matches"] == ["graceful"]
        code = "%%arroyo create --if"
        assert "--if-exists" in kc.complete(code, len(code), reply=True, timeout=30)["content"]["matches"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
