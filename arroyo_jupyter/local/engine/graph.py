"""The pipeline graph (Arroyo's ``PipelineGraph``) derived from a planned program.

Each node is a real operator of the runtime: sources, their watermark generators, the key
(shuffle) operator in front of a stateful query, the query operator itself and the sinks;
each carries the builder of its subtasks (nodes.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .planner import Program

_SINK_PARALLELISM_ONE = {"single_file", "preview", "stdout"}


def _duration(ns: int) -> str:
    for unit, size in (
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ):
        if ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"


def _source_description(table) -> str:
    opts = table.options
    if table.connector == "impulse":
        rate = opts.get("event_rate")
        return f"{'BoundedImpulse' if 'message_count' in opts else 'Impulse'}<{rate} eps>"
    if table.connector == "nexmark":
        rate = opts.get("event_rate")
        return f"{'BoundedNexmark' if 'runtime' in opts else 'Nexmark'}<{rate} eps>"
    if table.connector == "kafka":
        return f"KafkaSource<{opts.get('topic', '')}>"
    return f"FileSource<{opts.get('path', '')}>"


def build_graph(program: Program, *, preview: bool, enable_sinks: bool, updating_tables: set[str]) -> None:
    """The program's typed DAG (``program.dag``), each node with the builder of its subtasks."""
    from . import nodes as ops
    from .dag import Dag
    from .planner import PREVIEW, SinkPlan

    dag = Dag()
    op_ids: dict[int, str] = {}
    n = program.parallelism

    def node(
        operator_id: str, operator: str, description: str, parallelism: int, build, stream: str = ""
    ) -> int:
        added = dag.add(operator_id, operator, description, parallelism, build, bool(stream), stream)
        op_ids[added.node_id] = operator_id
        return added.node_id

    def next_id() -> int:
        return len(dag.nodes) + 1

    # sources in order of first use
    used: list[str] = []
    for q in program.queries:
        for name in q.shape.inputs:
            while name in program.lookups:  # a lookup join reads its stream
                name = program.lookups[name].stream
            if program.tables[name].kind == "source" and name not in used:
                used.append(name)
    for name in used:
        table = program.tables[name]
        assert table.connector is not None, f"source table {name} has no connector"  # checked when planning
        src = node(
            f"source_{name}_{next_id()}",
            table.connector,
            _source_description(table),
            n,
            ops.build_source(table),
            stream=name,
        )
        wm_id = next_id()
        wm_desc = (
            f"Watermark<{table.watermark[1] or table.watermark[0]}>"
            if table.watermark
            else (
                f"Watermark<{table.event_time_field} - 1s>"
                if table.event_time_field
                else "Watermark<_timestamp - 1s>"
            )
        )
        wm = node(
            f"watermark_{wm_id}", f"watermark_{wm_id}", wm_desc, n, ops.build_watermark(table, program.udfs)
        )
        dag.connect(src, wm)
        program.source_nodes[name] = (src, wm)

    producers: dict[str, int] = {name: wm for name, (_, wm) in program.source_nodes.items()}

    def lookup_producer(t: str) -> None:
        """A lookup join turns its stream into the table the query reads (chains: in order)."""
        if t in program.lookups and t not in producers:
            from .lookup_join import build_lookup_join

            lj = program.lookups[t]
            lookup_producer(lj.stream)
            nid = next_id()
            producers[t] = node(
                f"lookup_join_{nid}",
                f"lookup_join_{nid}",
                f"LookupJoin<{lj.lookup.name}>",
                n,
                build_lookup_join(lj, program),
            )
            dag.connect(producers[lj.stream], producers[t])

    sink_nodes: dict[str, int] = {}
    for q in program.queries:
        for t in q.shape.inputs:
            lookup_producer(t)
        inputs = [producers[t] for t in q.shape.inputs if t in producers]
        if q.kind == "stateless":
            nid = next_id()
            q.node_id = node(
                f"projection_{nid}", f"projection_{nid}", "ArrowProjection", n, ops.build_query(q, program)
            )
            for src in inputs:
                dag.connect(src, q.node_id)
        else:
            kid = next_id()
            keys = ", ".join(q.shape.key_exprs) if q.shape.key_exprs else ""
            q.key_node_id = node(
                f"key_{kid}", f"key_{kid}", f"ArrowKey<{keys}>", n, ops.build_key(q, program.udfs)
            )
            for src in inputs:
                dag.connect(src, q.key_node_id)
            nid = next_id()
            if q.kind == "windowed":
                w = q.window
                assert w is not None, "a windowed query carries its window"
                if q.shape.has_join:
                    op, desc = f"join_{nid}", f"WindowedJoin<{_duration(w.width)}>"
                elif w.kind == "tumble":
                    op, desc = f"tumbling_{nid}", f"TumblingWindow<{_duration(w.width)}>"
                elif w.kind == "hop":
                    op, desc = (
                        f"sliding_window_{nid}",
                        f"SlidingWindow<size: {_duration(w.width)}, slide: {_duration(w.slide)}>",
                    )
                else:
                    op, desc = f"session_window_{nid}", f"SessionWindow<{_duration(w.width)}>"
            else:
                op, desc = (
                    (f"join_{nid}", "join")
                    if q.shape.has_join
                    else (f"updating_aggregate_{nid}", "UpdatingAggregate")
                )
            q.node_id = node(op, op, desc, n, ops.build_query(q, program))
            dag.connect(q.key_node_id, q.node_id, "shuffle")
        target = q.target
        sink_table = program.tables.get(target)
        if sink_table is not None and sink_table.kind == "memory":
            producers[target] = q.node_id
            continue
        if target not in sink_nodes:
            updating = q.kind == "updating"
            connector = (
                "preview"
                if (target == PREVIEW or (preview and not enable_sinks))
                else (sink_table.connector if sink_table is not None else None)
            )
            assert connector is not None, f"sink {target} has no connector"  # checked when planning
            schema = q.output_schema if sink_table is None or sink_table.schema is None else sink_table.schema
            par = 1 if connector in _SINK_PARALLELISM_ONE else n
            sid = next_id()
            op_id = f"sink_{target}_{sid}"
            desc = "PreviewSink" if connector == "preview" else f"{connector.title().replace('_', '')}Sink"
            plan = SinkPlan(
                target,
                connector,
                sid,
                op_id,
                schema,
                updating,
                dict(sink_table.options) if sink_table is not None else {},
                list(sink_table.primary_keys) if sink_table is not None else [],
            )
            sink_nodes[target] = node(op_id, connector, desc, par, ops.build_sink(plan))
            program.sinks.append(plan)
            if preview and enable_sinks and connector != "preview":
                pid = next_id()
                extra = SinkPlan(PREVIEW, "preview", pid, f"{op_id}_1", schema, updating)
                node(f"{op_id}_1", "preview", "PreviewSink", 1, ops.build_sink(extra))
                program.sinks.append(extra)
        for sink in program.sinks:
            if sink.node_id == sink_nodes[target] or (
                sink.operator_id.startswith(op_ids[sink_nodes[target]] + "_")
            ):
                dag.connect(q.node_id, sink.node_id)
                if q.kind == "updating":
                    sink.updating = True
    program.dag = dag
    program.op_ids = op_ids
