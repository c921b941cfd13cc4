"""The typed operator DAG the planner produces and the runtime runs.

Each :class:`Node` is one operator with ``parallelism`` subtasks; ``build`` makes one
subtask (an :class:`~.operator_api.Operator`, or a source subtask for ``source`` nodes).
Edges are ``forward`` (subtask i feeds subtask i, or i mod the downstream's parallelism) or
``shuffle`` (every upstream subtask feeds every downstream one; the operator picks the
partition of each batch). ``to_json`` is Arroyo's ``PipelineGraph`` for the API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .operator_api import SubtaskState


@dataclass
class SubtaskContext:
    """What building one subtask may use."""

    index: int
    parallelism: int
    restored: list[SubtaskState] | None  # the node's states of the restored epoch; None: fresh
    listener: Any
    batch_size: int | None
    report_error: Callable[[str, str], None]  # (message, details): bad data that was skipped


@dataclass
class Edge:
    src: int
    dest: int
    kind: str  # "forward" | "shuffle"


@dataclass
class Node:
    node_id: int
    operator_id: str  # "source_impulse_1", "tumbling_4", … (checkpoint files, reports)
    operator: str  # Arroyo's operator name in the graph
    description: str
    parallelism: int
    build: Callable[[SubtaskContext], Any]
    source: bool = False
    stream: str = ""  # sources: the table their rows belong to


@dataclass
class Dag:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    def node(self, node_id: int) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    def inputs(self, node_id: int) -> list[Edge]:
        return [e for e in self.edges if e.dest == node_id]

    def outputs(self, node_id: int) -> list[Edge]:
        return [e for e in self.edges if e.src == node_id]

    def add(
        self,
        operator_id: str,
        operator: str,
        description: str,
        parallelism: int,
        build: Callable[[SubtaskContext], Any],
        source: bool = False,
        stream: str = "",
    ) -> Node:
        node = Node(
            max((n.node_id for n in self.nodes), default=0) + 1,
            operator_id,
            operator,
            description,
            parallelism,
            build,
            source,
            stream,
        )
        self.nodes.append(node)
        return node

    def connect(self, src: int, dest: int, kind: str = "forward") -> None:
        self.edges.append(Edge(src, dest, kind))

    def insert_after(
        self, node_id: int, operator_id: str, description: str, build: Callable[[SubtaskContext], Any]
    ) -> Node:
        """A new node between ``node_id`` and everything it fed (same parallelism, forward in)."""
        upstream = self.node(node_id)
        node = self.add(operator_id, operator_id, description, upstream.parallelism, build)
        for e in self.outputs(node_id):
            e.src = node.node_id
        self.connect(node_id, node.node_id)
        return node

    def to_json(self) -> dict[str, Any]:
        kinds = {"forward": "Forward", "shuffle": "Shuffle"}
        return {
            "nodes": [
                {
                    "node_id": n.node_id,
                    "operator": n.operator,
                    "description": n.description,
                    "parallelism": n.parallelism,
                }
                for n in self.nodes
            ],
            "edges": [
                {
                    "src_id": e.src,
                    "dest_id": e.dest,
                    "key_type": "()",
                    "value_type": "()",
                    "edge_type": kinds[e.kind],
                }
                for e in self.edges
            ],
        }
