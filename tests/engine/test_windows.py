"""Windows and watermarks: tumble, hop, session, late rows, window functions, windowed joins."""

from __future__ import annotations

from engine_helpers import read_lines, run_sql, write_lines


def _events(tmp_path, rows):
    return write_lines(tmp_path / "events.json", rows)


def _source(path, watermark: str = "", extra: str = "") -> str:
    wm = f",\n  WATERMARK FOR ts{watermark}" if watermark is not None else ""
    return (
        f"CREATE TABLE events (ts TIMESTAMP, user_id BIGINT, amount BIGINT{wm}) WITH (connector = 'single_file', "
        f"path = '{path}', format = 'json', type = 'source'{extra});\n"
    )


def _sink(path, columns: str) -> str:
    return (
        f"CREATE TABLE out ({columns}) WITH (connector = 'single_file', path = '{path}', "
        "format = 'json', type = 'sink');\n"
    )


def test_tumbling_window_counts_per_key_with_window_bounds(tmp_path):
    rows = [{"ts": f"2024-01-01T00:00:{s:02d}Z", "user_id": s % 2, "amount": s} for s in range(0, 30)]
    out = tmp_path / "out.json"
    _, job = run_sql(
        _source(_events(tmp_path, rows))
        + _sink(out, 'user_id BIGINT, start TIMESTAMP, "end" TIMESTAMP, n BIGINT, total BIGINT')
        + "INSERT INTO out SELECT user_id, window.start, window.end, n, total FROM (SELECT user_id, "
        "tumble(interval '10 seconds') AS window, count(*) AS n, sum(amount) AS total FROM events GROUP BY 1, 2)",
        parallelism=2,
    )
    assert job.outcome == "finished"
    got = sorted((r["user_id"], r["start"], r["end"], r["n"], r["total"]) for r in read_lines(out))
    want = sorted(
        (
            u,
            f"2024-01-01T00:00:{w:02d}",
            f"2024-01-01T00:00:{w + 10:02d}",
            5,
            sum(s for s in range(w, w + 10) if s % 2 == u),
        )
        for w in (0, 10, 20)
        for u in (0, 1)
    )
    assert got == want


def test_hop_windows_overlap_and_start_before_the_first_event(tmp_path):
    rows = [{"ts": f"2024-01-01T00:00:{s:02d}Z", "user_id": 1, "amount": 1} for s in range(0, 6)]
    out = tmp_path / "out.json"
    run_sql(
        _source(_events(tmp_path, rows))
        + _sink(out, "start TIMESTAMP, n BIGINT")
        + "INSERT INTO out SELECT window.start, n FROM (SELECT hop(interval '2 seconds', interval '4 seconds') "
        "AS window, count(*) AS n FROM events GROUP BY 1)"
    )
    got = sorted((r["start"][-2:], r["n"]) for r in read_lines(out))
    # windows [-2,2) [0,4) [2,6) [4,8): every second-bucket is in two windows
    assert got == [("00", 4), ("02", 4), ("04", 2), ("58", 2)]


def test_session_windows_split_on_gaps_per_key(tmp_path):
    seconds = {1: [0, 3, 5, 20, 21], 2: [1, 40]}
    rows = [
        {"ts": f"2024-01-01T00:00:{s:02d}Z", "user_id": u, "amount": 1}
        for u, ss in seconds.items()
        for s in ss
    ]
    out = tmp_path / "out.json"
    run_sql(
        _source(_events(tmp_path, sorted(rows, key=lambda r: r["ts"])))
        + _sink(out, 'user_id BIGINT, start TIMESTAMP, "end" TIMESTAMP, n BIGINT')
        + "INSERT INTO out SELECT user_id, window.start, window.end, n FROM (SELECT user_id, "
        "session(interval '10 seconds') AS window, count(*) AS n FROM events GROUP BY user_id, window)",
        parallelism=2,
    )
    got = sorted((r["user_id"], r["start"][-2:], r["end"][-2:], r["n"]) for r in read_lines(out))
    assert got == [(1, "00", "15", 3), (1, "20", "31", 2), (2, "01", "11", 1), (2, "40", "50", 1)]


def test_rows_behind_the_watermark_are_dropped_as_late(tmp_path):
    # a tight watermark (the event time itself); the row at :01 arrives after :25 closed [0, 10)
    rows = [{"ts": f"2024-01-01T00:00:{s:02d}Z", "user_id": 1, "amount": 1} for s in (0, 2, 25, 1, 26, 31)]
    out = tmp_path / "out.json"
    run_sql(
        _source(_events(tmp_path, rows), watermark="")
        + _sink(out, "start TIMESTAMP, n BIGINT")
        + "INSERT INTO out SELECT window.start, n FROM (SELECT tumble(interval '10 seconds') AS window, "
        "count(*) AS n FROM events GROUP BY 1)",
        batch_size=1,
    )
    assert sorted((r["start"][-2:], r["n"]) for r in read_lines(out)) == [("00", 2), ("20", 2), ("30", 1)]


def test_watermark_expression_delays_closing_so_late_rows_count(tmp_path):
    rows = [{"ts": f"2024-01-01T00:00:{s:02d}Z", "user_id": 1, "amount": 1} for s in (0, 2, 25, 1, 26, 31)]
    out = tmp_path / "out.json"
    run_sql(
        _source(_events(tmp_path, rows), watermark=" AS ts - INTERVAL '30' SECOND")
        + _sink(out, "start TIMESTAMP, n BIGINT")
        + "INSERT INTO out SELECT window.start, n FROM (SELECT tumble(interval '10 seconds') AS window, "
        "count(*) AS n FROM events GROUP BY 1)",
        batch_size=1,
    )
    assert sorted((r["start"][-2:], r["n"]) for r in read_lines(out)) == [("00", 3), ("20", 2), ("30", 1)]


def test_top_n_per_window_with_row_number(tmp_path):
    rows = [
        {"ts": f"2024-01-01T00:00:0{s % 10}Z", "user_id": u, "amount": 1}
        for s in range(10)
        for u in range(1, 6)
        for _ in range(u)
    ]
    out = tmp_path / "out.json"
    run_sql(
        _source(_events(tmp_path, rows))
        + _sink(out, "user_id BIGINT, n BIGINT, rn BIGINT")
        + "INSERT INTO out SELECT user_id, n, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window ORDER BY n DESC) "
        "AS rn FROM (SELECT user_id, tumble(interval '1 minute') AS window, count(*) AS n FROM events GROUP BY 1, 2)) "
        "WHERE rn <= 2",
        parallelism=2,
    )
    assert sorted((r["user_id"], r["n"], r["rn"]) for r in read_lines(out)) == [(4, 40, 2), (5, 50, 1)]


def test_windowed_join_of_two_aggregates(tmp_path):
    rows = [{"ts": f"2024-01-01T00:00:{s:02d}Z", "user_id": s % 3, "amount": s} for s in range(20)]
    out = tmp_path / "out.json"
    run_sql(
        _source(_events(tmp_path, rows))
        + _sink(out, "start TIMESTAMP, small BIGINT, big BIGINT")
        + "INSERT INTO out SELECT a.window.start, a.c, b.c FROM "
        "(SELECT tumble(interval '10 seconds') AS window, count(*) AS c FROM events WHERE amount < 5 GROUP BY 1) a "
        "JOIN (SELECT tumble(interval '10 seconds') AS window, count(*) AS c FROM events WHERE amount >= 5 GROUP BY 1) b "
        "ON a.window = b.window"
    )
    assert [(r["start"][-2:], r["small"], r["big"]) for r in read_lines(out)] == [("00", 5, 5)]


def test_row_time_is_the_event_time(tmp_path):
    rows = [{"ts": "2024-01-01T00:00:07.250Z", "user_id": 1, "amount": 1}]
    out = tmp_path / "out.json"
    run_sql(
        _source(_events(tmp_path, rows), extra=", event_time_field = 'ts'")
        + _sink(out, "t TIMESTAMP")
        + "INSERT INTO out SELECT row_time() FROM events"
    )
    assert read_lines(out) == [{"t": "2024-01-01T00:00:07.250"}]


def test_nested_aggregate_over_the_same_window(tmp_path):
    rows = [{"ts": f"2024-01-01T00:00:{s:02d}Z", "user_id": s % 3, "amount": s} for s in range(20)]
    out = tmp_path / "out.json"
    run_sql(
        _source(_events(tmp_path, rows))
        + _sink(out, "start TIMESTAMP, users BIGINT, top BIGINT")
        + "INSERT INTO out SELECT w.start, count(*), max(n) FROM (SELECT tumble(interval '10 seconds') AS w, "
        "user_id, count(*) AS n FROM events GROUP BY 1, 2) GROUP BY w",
        parallelism=2,
    )
    assert sorted((r["start"][-2:], r["users"], r["top"]) for r in read_lines(out)) == [
        ("00", 3, 4),
        ("10", 3, 4),
    ]
