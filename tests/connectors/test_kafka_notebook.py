"""notebooks/kafka.ipynb runs top to bottom against the test broker (nbclient, embedded engine)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

E2E = Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(E2E))
from e2e_env import make_jupyter_env  # noqa: E402
from e2e_nbrun import run_notebook  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "kafka.ipynb"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "connectors"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_kafka_notebook_previews_and_launches_over_a_topic(kafka, tmp_path):
    env = make_jupyter_env(tmp_path / "jupyter", {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap})
    run = run_notebook(
        NOTEBOOK,
        ARTIFACTS,
        env,
        probe="""{'big': len(big), 'min_amount': float(big['amount'].min()),
                  'parts': sorted(set(int(p) for p in big['part'])), 'written': len(written),
                  'expected': expected, 'ids': len({r['order_id'] for r in written})}""",
    )
    p = run.probe
    assert p["big"] == 20 and p["min_amount"] > 400
    assert set(p["parts"]) <= {0, 1, 2}
    assert p["written"] == p["expected"] == p["ids"] > 0
