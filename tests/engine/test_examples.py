"""The example queries of API.md §11 plan and run on the engine (briefly: unbounded ones are stopped)."""

from __future__ import annotations

import time

import pytest
from engine_helpers import Recorder

from arroyo_jupyter.local.engine import plan_query, start_job

NEXMARK = "CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '100');\n"
IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\n"
Q5 = (
    "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window ORDER BY count DESC) AS row_num FROM "
    "(SELECT count(*) AS count, bid.auction AS auction, hop(interval '2 seconds', interval '60 seconds') AS window "
    "FROM nexmark WHERE bid IS NOT NULL GROUP BY 2, window)) WHERE row_num <= 5"
)

# (sql, saved connection tables, expected to show output within a few seconds)
EXAMPLES = {
    "impulse": (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100'); SELECT * FROM impulse;",
        None,
        True,
    ),
    "bounded_impulse": (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = 100, message_count = 1000); "
        "SELECT counter, subtask_index FROM impulse;",
        None,
        True,
    ),
    "nexmark_filter": (NEXMARK + "SELECT bid FROM nexmark WHERE bid IS NOT NULL;", None, True),
    "sliding_avg": (
        NEXMARK + "SELECT avg(bid.price) AS avg_price FROM nexmark WHERE bid IS NOT NULL "
        "GROUP BY hop(interval '2 seconds', interval '10 seconds');",
        None,
        True,
    ),
    "q5_top_auctions": (NEXMARK + Q5, None, True),
    "tumble_per_auction": (
        "CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = 10); SELECT bid.auction AS "
        "auction, tumble(INTERVAL '1' second) AS window, count(*) AS count FROM nexmark "
        "WHERE bid IS NOT NULL GROUP BY 1, 2;",
        None,
        True,
    ),
    "saved_table": (
        "select count(*) from saved_impulse where counter % 2 == 0 "
        "group by hop(interval '2 seconds', interval '10 seconds');",
        {"saved_impulse": {"connector": "impulse", "config": {"event_rate": 10}}},
        False,
    ),
    "updating_having": (
        "CREATE TABLE impulse WITH ('connector' = 'impulse', event_rate = '100'); "
        "SELECT count(*) AS rows FROM impulse HAVING rows < 500;",
        None,
        True,
    ),
    "updating_grouped": (
        IMPULSE + "SELECT counter % 10, count(*) FROM impulse GROUP BY counter % 10;",
        None,
        True,
    ),
    "scalar_function": (
        "create table impulse with (connector = 'impulse', event_rate = '10'); "
        "select sha256(cast(counter as TEXT)) from impulse;",
        None,
        True,
    ),
    "hop_as_tumble": (
        IMPULSE + "select count(*) from impulse group by hop(interval '10 seconds', interval '10 seconds');",
        None,
        False,
    ),
    "bounded_nexmark_window_fn": (
        "CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '500000', runtime = '20');\n"
        + Q5.replace("PARTITION BY window", "PARTITION BY window, auction"),
        None,
        False,
    ),
    "blackhole": (
        "CREATE TABLE impulse WITH (connector='impulse', event_rate=10); CREATE TABLE out WITH "
        "(connector='blackhole'); INSERT INTO out SELECT counter FROM impulse;",
        None,
        False,
    ),
}


@pytest.mark.parametrize("parallelism", [1, 2])
def test_every_example_plans_with_a_graph(parallelism):
    for name, (sql, tables, _) in EXAMPLES.items():
        program = plan_query(sql, parallelism=parallelism, tables=tables)
        nodes = program.graph["nodes"]
        assert all(set(n) == {"node_id", "operator", "description", "parallelism"} for n in nodes), name
        assert {e["edge_type"] for e in program.graph["edges"]} <= {"Forward", "Shuffle"}
        assert all(e["key_type"] == "()" and e["value_type"] == "()" for e in program.graph["edges"])
        assert program.has_preview_sink == (name != "blackhole"), name


def test_preview_rewrites_sinks_unless_sinks_are_enabled():
    sql = EXAMPLES["blackhole"][0]
    assert plan_query(sql, preview=True).has_preview_sink
    program = plan_query(sql, preview=True, enable_sinks=True)
    ops = sorted(n["operator"] for n in program.graph["nodes"])
    assert "blackhole" in ops and "preview" in ops
    assert any(oid.endswith("_1") and oid.startswith("sink_out_") for oid in program.op_ids.values())


def test_every_example_runs_and_the_quick_ones_show_rows():
    runs = {}
    for name, (sql, tables, _) in EXAMPLES.items():
        recorder = Recorder()
        runs[name] = (recorder, start_job(plan_query(sql, tables=tables), state_dir=None, listener=recorder))
    try:
        deadline = time.monotonic() + 20
        waiting = {n for n, (_, _, quick) in EXAMPLES.items() if quick}
        while waiting and time.monotonic() < deadline:
            waiting = {n for n in waiting if not runs[n][0].rows}
            time.sleep(0.05)
        assert not waiting, f"no output from {sorted(waiting)}"
    finally:
        for _, runner in runs.values():
            runner.stop("immediate")
        for _, runner in runs.values():
            assert runner.join(20)
    for name, (recorder, _) in runs.items():
        assert not recorder.errors, (name, recorder.errors)
        assert recorder.ended in ("stopped", "finished"), (name, recorder.ended)
    top = runs["q5_top_auctions"][0].rows
    assert {"count", "auction", "window", "row_num"} <= set(top[0]) and all(r["row_num"] <= 5 for r in top)
    assert {r["op"] for r in runs["updating_grouped"][0].rows} <= {"c", "u"}
    assert len(runs["bounded_impulse"][0].rows) <= 1000
