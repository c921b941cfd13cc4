"""Arroyo's SQL dialect: split a script into statements and parse them with sqlglot.

DataFusion rejects Arroyo's DDL (``CREATE TABLE … WITH (connector = …)``, ``WATERMARK FOR``),
so statements are parsed here. ``WATERMARK FOR col [AS expr]`` is cut out of the column list
with the tokenizer (sqlglot has no grammar for it) and kept aside; everything else is a
sqlglot AST. Every error is a :class:`PlanError` whose diagnostic carries a line/column span.
"""

from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from .interface import Diagnostic, PlanError, SqlLocation

DIALECT = "postgres"

# sqlglot logs a warning before falling back to an opaque Command; the planner reports it instead
logging.getLogger("sqlglot").setLevel(logging.ERROR)


class Positions:
    """Maps character offsets of the original script to 1-based line/column."""

    def __init__(self, text: str):
        self._starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def at(self, offset: int) -> SqlLocation:
        line = bisect.bisect_right(self._starts, offset) - 1
        return SqlLocation(line=line + 1, column=offset - self._starts[line] + 1)


@dataclass
class Statement:
    ast: exp.Expression
    text: str  # the statement as written (watermark clause removed)
    start: SqlLocation
    end: SqlLocation
    watermark: tuple[str, str | None] | None = None  # (column, expression SQL or None)
    options: dict[str, str] | None = None  # CREATE TABLE … WITH (…), keys lower-cased

    def error(self, message: str) -> PlanError:
        """An error spanning the statement, or just the name it is about when that is
        found in the statement (DataFusion's planning errors carry no position)."""
        span = self._span_of_name_in(message)
        start, end = span if span else (self.start, self.end)
        return PlanError([Diagnostic(message, start, end)])

    def _span_of_name_in(self, message: str) -> tuple[SqlLocation, SqlLocation] | None:
        for match in _NAMED_IN_ERROR.finditer(message):
            name = next(g for g in match.groups() if g).strip('"').rstrip(".").split(".")[-1]
            hit = re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)|(?<=\.){re.escape(name)}(?!\w)", self.text, re.I)
            if name and hit:
                return self._location(hit.start()), self._location(hit.end())
        return None

    def _location(self, offset: int) -> SqlLocation:
        before = self.text[:offset].split("\n")
        if len(before) == 1:
            return SqlLocation(self.start.line, self.start.column + offset)
        return SqlLocation(self.start.line + len(before) - 1, len(before[-1]) + 1)


# Names DataFusion's and our planning errors are about: 'quoted', "No field named x",
# "Field x not found", "column x" …
_NAMED_IN_ERROR = re.compile(
    r"'([^'\s]+)'|\bNo field named ([\w.\"]+)|\b[Ff]ield ([\w\"]+) not found|\bcolumn ([\w\"]+)"
)


def _tokenize(script: str, positions: Positions):
    try:
        return sqlglot.tokenize(script, read=DIALECT)
    except TokenError as err:
        text = str(err)
        snippet = text.split("Error tokenizing '", 1)[-1].rstrip("'")
        where = script.find(snippet[-20:]) if snippet else -1
        location = positions.at(where if where >= 0 else 0)
        raise PlanError([Diagnostic("SQL error: unterminated string or quoted name", location)]) from None


def _cut_watermark(text: str, tokens: list, base: int, positions: Positions) -> tuple[str, tuple[str, str | None] | None]:
    """Remove ``[,] WATERMARK FOR col [AS expr]`` from a CREATE TABLE column list."""
    for i, tok in enumerate(tokens):
        if tok.text.upper() == "WATERMARK" and i + 2 < len(tokens) and tokens[i + 1].token_type == TokenType.FOR:
            column = tokens[i + 2].text
            depth, j = 0, i + 3
            expr_start = None
            if j < len(tokens) and tokens[j].token_type == TokenType.ALIAS:
                expr_start = j + 1
                j += 1
            while j < len(tokens):
                t = tokens[j].token_type
                if t == TokenType.L_PAREN:
                    depth += 1
                elif t == TokenType.R_PAREN:
                    if depth == 0:
                        break
                    depth -= 1
                elif t == TokenType.COMMA and depth == 0:
                    break
                j += 1
            expr = None
            if expr_start is not None and expr_start >= j:
                where = tokens[expr_start - 1]
                raise PlanError([Diagnostic(f"WATERMARK FOR {column} AS needs an expression, e.g. "
                                            f"{column} - INTERVAL '5' SECOND", positions.at(where.start))])
            if expr_start is not None and expr_start < j:
                expr = text[tokens[expr_start].start - base : tokens[j - 1].end - base + 1]
            # cut from the comma before WATERMARK (or after it when it comes first)
            prev = tokens[i - 1]
            if prev.token_type == TokenType.COMMA:
                cut_from, cut_to = prev.start - base, tokens[j - 1].end - base + 1
            elif j < len(tokens) and tokens[j].token_type == TokenType.COMMA:
                cut_from, cut_to = tok.start - base, tokens[j].end - base + 1
            else:
                cut_from, cut_to = tok.start - base, tokens[j - 1].end - base + 1
            text = text[:cut_from] + " " * (cut_to - cut_from) + text[cut_to:]
            return text, (column, expr)
    return text, None


_VALUE_TOKENS = {TokenType.STRING, TokenType.NUMBER, TokenType.VAR, TokenType.TRUE, TokenType.FALSE}


def _cut_options(text: str, tokens: list, base: int, positions: Positions) -> tuple[str, dict[str, str] | None]:
    """Read and remove ``WITH (key = value, …)`` of a CREATE TABLE (sqlglot mangles some keys)."""
    if len(tokens) < 3 or tokens[1].token_type != TokenType.TABLE:
        return text, None
    depth = 0
    for i, tok in enumerate(tokens):
        if tok.token_type == TokenType.L_PAREN:
            depth += 1
        elif tok.token_type == TokenType.R_PAREN:
            depth -= 1
        elif tok.token_type == TokenType.WITH and depth == 0 and i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.L_PAREN:
            options: dict[str, str] = {}
            j = i + 2
            while j < len(tokens) and tokens[j].token_type != TokenType.R_PAREN:
                key_parts = []
                while j < len(tokens) and tokens[j].token_type not in (TokenType.EQ, TokenType.R_PAREN, TokenType.COMMA):
                    key_parts.append(tokens[j].text)
                    j += 1
                if j >= len(tokens) or tokens[j].token_type != TokenType.EQ or not key_parts:
                    where = tokens[min(j, len(tokens) - 1)]
                    raise PlanError([Diagnostic("expected 'key = value' in WITH (...)", positions.at(where.start))])
                value_tok = tokens[j + 1] if j + 1 < len(tokens) else None
                if value_tok is None or value_tok.token_type not in _VALUE_TOKENS:
                    where = value_tok or tokens[j]
                    raise PlanError([Diagnostic("expected a value after '=' in WITH (...)", positions.at(where.start))])
                value = value_tok.text
                if value_tok.token_type == TokenType.DASH:
                    value = "-" + value
                options["".join(key_parts).lower()] = value
                j += 2
                if j < len(tokens) and tokens[j].token_type == TokenType.COMMA:
                    j += 1
            if j >= len(tokens):
                raise PlanError([Diagnostic("WITH (...) is not closed", positions.at(tok.start))])
            cut_from, cut_to = tok.start - base, tokens[j].end - base + 1
            text = text[:cut_from] + " " * (cut_to - cut_from) + text[cut_to:]
            return text, options
    return text, None


def _rewrite_keywords(text: str, tokens: list, base: int) -> str:
    """Words Arroyo uses as names but sqlglot reads as keywords.

    ``session(...)`` (the session window) is renamed ``session_window(...)``; ``window`` used as a
    column (``GROUP BY window``, ``window.start``) becomes the quoted identifier ``"window"``.
    """
    for i in range(len(tokens) - 1, -1, -1):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        word = tok.text.lower()
        if word == "session" and nxt is not None and nxt.token_type == TokenType.L_PAREN:
            text = text[: tok.start - base] + "session_window" + text[tok.end - base + 1 :]
        elif word == "window" and tok.token_type == TokenType.WINDOW:
            after = tokens[i + 2] if i + 2 < len(tokens) else None
            named_window_clause = after is not None and after.token_type == TokenType.ALIAS
            if not named_window_clause:
                text = text[: tok.start - base] + '"window"' + text[tok.end - base + 1 :]
    return text


def split_statements(script: str) -> list[Statement]:
    """Parse a script into statements; raises PlanError with positions."""
    positions = Positions(script)
    if not script.strip() or not [t for t in _tokenize(script, positions)]:
        raise PlanError([Diagnostic("Query is empty!")])
    tokens = _tokenize(script, positions)
    groups: list[list] = [[]]
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            groups.append([])
        else:
            groups[-1].append(tok)
    statements = []
    for group in groups:
        if not group:
            continue
        base = group[0].start
        text = script[base : group[-1].end + 1]
        watermark = options = None
        if group[0].token_type == TokenType.CREATE:
            text, options = _cut_options(text, group, base, positions)
            text, watermark = _cut_watermark(text, group, base, positions)
        text = _rewrite_keywords(text, group, base)
        start, end = positions.at(base), positions.at(group[-1].end)
        try:
            parsed = sqlglot.parse(text, read=DIALECT)
        except ParseError as err:
            info = err.errors[0] if err.errors else {}
            line = (info.get("line") or 1) + start.line - 1
            col = info.get("col") or 1
            if (info.get("line") or 1) == 1:
                col += start.column - 1
            desc = info.get("description") or str(err)
            if "Required keyword" in desc or "missing for" in desc:
                desc = "incomplete SQL: something is missing here"
            raise PlanError([Diagnostic(f"SQL error: {desc}", SqlLocation(line, col))]) from None
        parsed = [p for p in parsed if p is not None]
        if len(parsed) != 1:
            raise PlanError([Diagnostic("expected one statement", start, end)])
        statements.append(Statement(parsed[0], text, start, end, watermark, options))
    if not statements:
        raise PlanError([Diagnostic("Query is empty!")])
    return statements
