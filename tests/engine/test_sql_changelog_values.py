"""Updating results are diffed by row values, not by row hashes: NULL and '' are different keys,
and rows whose 64-bit hashes collide are still told apart."""

from __future__ import annotations

from engine_helpers import fold_debezium, run_sql, write_lines

from arroyo_jupyter.local.engine import operators


def _rows():
    # s alternates '', NULL, 'a'; v counts up, so count(DISTINCT v) per s grows with each row
    return [{"s": ["", None, "a"][i % 3], "v": i} for i in range(30)]


def _run(tmp_path, batch_size=4):
    src = write_lines(tmp_path / "in.json", _rows())
    rec, job = run_sql(
        f"CREATE TABLE t (s TEXT, v BIGINT) WITH (connector = 'single_file', path = '{src}', format = 'json', "
        "type = 'source');\nSELECT s, count(DISTINCT v) AS n, max(v) AS top FROM t GROUP BY s",
        batch_size=batch_size,
    )
    assert job.outcome == "finished"
    return fold_debezium(rec.rows)


def _want():
    out = []
    for s in ("", None, "a"):
        vs = [r["v"] for r in _rows() if r["s"] == s]
        out.append({"s": s, "n": len(vs), "top": max(vs)})
    return sorted(out, key=lambda r: (r["s"] is None, r["s"] or ""))


def _sorted(rows):
    return sorted(rows, key=lambda r: (r["s"] is None, r["s"] or ""))


def test_null_and_empty_string_are_different_groups(tmp_path):
    assert _sorted(_run(tmp_path)) == _want()


def test_colliding_row_hashes_do_not_drop_or_invent_changes(tmp_path, monkeypatch):
    # inject the worst case: every row hashes the same
    monkeypatch.setattr(
        operators,
        "_row_hashes",
        lambda table, columns=None: __import__("numpy").zeros(table.num_rows, dtype="uint64"),
    )
    assert _sorted(_run(tmp_path)) == _want()
