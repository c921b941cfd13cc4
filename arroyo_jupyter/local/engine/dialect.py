"""Arroyo's SQL dialect: split a script into statements and parse them with sqlglot.

DataFusion rejects Arroyo's DDL (``CREATE TABLE … WITH (connector = …)``, ``WATERMARK FOR``),
so statements are parsed here. ``WATERMARK FOR col [AS expr]`` is cut out of the column list
with the tokenizer (sqlglot has no grammar for it) and kept aside; everything else is a
sqlglot AST. Every error is a :class:`PlanError` whose diagnostic carries a line/column span.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
from dataclasses import dataclass, field
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
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
    edits: list[tuple[int, int, int]] = field(
        default_factory=list
    )  # rewrites of text (see _rewrite_keywords)
    # the statement as written, options/watermark blanked (same offsets as the script)
    written: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # column → METADATA FROM 'key' of a CREATE TABLE
    raw: str | None = None  # the statement exactly as written, WITH (…) included (same offsets)

    @property
    def original_text(self) -> str:
        return self.text if self.written is None else self.written

    def error(self, message: str) -> PlanError:
        """An error spanning the statement, or just the name it is about when that is
        found in the statement (DataFusion's planning errors carry no position)."""
        message = user_words(message)
        if message.startswith("SQL error: Expected:"):  # DataFusion's parser, on SQL the engine wrote
            own = _syntax_error(self.original_text, self.start, self.end, {})
            if "Expected:" in own.diagnostics[0].message:  # the same parser on the user's text
                return own
            message = "SQL error: cannot read this statement; check its syntax"  # (not the engine's SQL)
        span = self._span_in_watermark(message) or self._span_of_name_in(message)
        start, end = span if span else (self.start, self.end)
        return PlanError([Diagnostic(message, start, end)])

    def _span_in_watermark(self, message: str) -> tuple[SqlLocation, SqlLocation] | None:
        """A parser error in the watermark expression (planned on its own): under the token found."""
        found = re.search(r"found: (\S+)$", message)
        expr = self.watermark[1] if self.watermark else None
        if not found or not expr or self.raw is None or expr not in self.raw:
            return None
        at = self.raw.index(expr)
        hit = re.search(re.escape(found.group(1)), expr, re.I)
        if hit is None:
            return None
        return self._location_written(at + hit.start()), self._location_written(at + hit.end() - 1)

    def error_at(self, message: str, node: exp.Expression | str | None) -> PlanError:
        """An error under ``node`` (an AST node or a word of the statement), else the statement."""
        needle = node if isinstance(node, str) else node.sql(dialect=DIALECT) if node is not None else ""
        span = self._span_of_text(needle) if needle else None
        if span is None and isinstance(node, exp.Expression):
            span = self._span_of_text(node.name) if node.name else None
        start, end = span if span else (self.start, self.end)
        return PlanError([Diagnostic(user_words(message), start, end)])

    def error_at_read(self, message: str, table: str) -> PlanError:
        """An error under the place a table is read (``FROM t`` / ``JOIN t``), else under its name."""
        hit = re.search(rf"\b(?:from|join)\s+\"?({re.escape(table)})\b", self.original_text, re.I)
        if hit is None:
            return self.error_at(message, table)
        start, end = self._location_written(hit.start(1)), self._location_written(hit.end(1) - 1)
        return PlanError([Diagnostic(user_words(message), start, end)])

    def _span_of_text(self, needle: str) -> tuple[SqlLocation, SqlLocation] | None:
        words = [re.escape(w) for w in re.split(r"\s+", needle.strip()) if w]
        if not words:
            return None
        pattern = r"\s*".join(words).replace('\\"', '"?')
        # whole words only: a column named `a` is not the `a` of CREATE
        pattern = (r"(?<!\w)" if re.match(r"\w", needle.strip()) else "") + pattern
        pattern += r"(?!\w)" if re.search(r"\w$", needle.strip()) else ""
        hit = re.search(pattern, self.original_text, re.I)
        if hit is None:
            return None
        return self._location_written(hit.start()), self._location_written(hit.end() - 1)

    def _location_written(self, offset: int) -> SqlLocation:
        before = self.original_text[:offset].split("\n")
        if len(before) == 1:
            return SqlLocation(self.start.line, self.start.column + offset)
        return SqlLocation(self.start.line + len(before) - 1, len(before[-1]) + 1)

    def _span_of_name_in(self, message: str) -> tuple[SqlLocation, SqlLocation] | None:
        for match in _NAMED_IN_ERROR.finditer(message):
            name = next(g for g in match.groups() if g).strip('"').rstrip(".").split(".")[-1]
            hit = re.search(
                rf"(?<![\w.]){re.escape(name)}(?!\w)|(?<=\.){re.escape(name)}(?!\w)", self.text, re.I
            )
            if name and hit:
                return self._location(hit.start()), self._location(hit.end())
            written = re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", self.original_text, re.I)
            if name and written:  # a word the engine rewrote (session → session_window)
                return self._location_written(written.start()), self._location_written(written.end() - 1)
            option = re.search(rf"'{re.escape(name)}'", self.raw or "")
            if name and option:  # a value in WITH (…): connector = 'kafkaa'
                return self._location_written(option.start() + 1), self._location_written(option.end() - 2)
        return None

    def _location(self, offset: int) -> SqlLocation:
        """An offset in the rewritten ``text`` as a location of what the user wrote."""
        return self._location_written(_original_offset(offset, self.edits))


def user_words(message: str) -> str:
    """A planning message without the engine's internal names or positions in rewritten SQL."""
    message = re.sub(r"\s*at Line: \d+, Column: \d+", "", message)
    message = message.replace("datafusion.public.", "")  # DataFusion's catalog prefix
    # a parser error DataFusion raised on SQL the engine wrote: its words, not the Rust debug form
    message = re.sub(r'(?:SQL error: )?ParserError\("(.*?)"\)', r"SQL error: \1", message)
    message = re.sub(r"(\.?)\s*Did you mean '[\w.]*(?:__window|_timestamp|__ts)'\?", r"\1", message)
    hidden = r'(?:[\w"]+\.)*"?(?:_timestamp|__ts|__window)"?'
    message = re.sub(rf",\s*{hidden}(?=[,\s.]|$)", "", message)  # from "Valid fields are …" lists
    message = re.sub(rf"(?<=are ){hidden},\s*", "", message)
    message = message.replace("__window", "window").replace("session_window", "session")
    message = re.sub(
        r"'__(json_\w+)'", r"'\1'", message
    )  # the engine's JSON functions, as the user calls them
    return _json_calls_as_written(message).strip()


# DataFusion's rendering of the engine's JSON calls: __json_get(t.doc, Utf8("["a",0]"))
_JSON_CALL = re.compile(r'__(json_\w+)\(((?:[^()]|\([^()]*\))*?), Utf8\("(\[[^\]]*\])"\)\)')


def _json_calls_as_written(message: str) -> str:
    """``__json_get(t.doc, Utf8("["a",0]"))`` in a message as ``json_get(t.doc, 'a', 0)``."""

    def call(m: re.Match[str]) -> str:
        try:
            keys = json.loads(m.group(3))
        except ValueError:
            return m.group(0)
        args = [m.group(2)] + [f"'{k}'" if isinstance(k, str) else str(k) for k in keys]
        return f"{m.group(1)}({', '.join(args)})"

    for _ in range(8):  # nested calls, innermost first
        message, n = _JSON_CALL.subn(call, message)
        if not n:
            break
    return message


# Names DataFusion's and our planning errors are about: 'quoted', "No field named x",
# "Field x not found", "column x" …
_NAMED_IN_ERROR = re.compile(
    r"'([^'\s]+)'|\bNo field named ([\w.\"]+)|\b[Ff]ield ([\w\"]+) not found|\bcolumn \"?([\w.]+)\"?"
    r"|\btime window function (\w+)|\b(hop|tumble|session)\(\) width"
)


def _blank(text: str, start: int, end: int) -> str:
    """``text`` with ``[start, end)`` spaced out, keeping its line breaks (so that lines and
    columns of what follows stay those of the user's text)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def _tokenize(script: str, positions: Positions):
    try:
        return sqlglot.tokenize(script, read=DIALECT)
    except TokenError as err:
        text = str(err)
        snippet = text.split("Error tokenizing '", 1)[-1].rstrip("'")
        where = script.find(snippet[-20:]) if snippet else -1
        location = positions.at(where if where >= 0 else 0)
        raise PlanError([Diagnostic("SQL error: unterminated string or quoted name", location)]) from None


def _cut_watermark(
    text: str, tokens: list, base: int, positions: Positions
) -> tuple[str, tuple[str, str | None] | None]:
    """Remove ``[,] WATERMARK FOR col [AS expr]`` from a CREATE TABLE column list."""
    for i, tok in enumerate(tokens):
        if (
            tok.text.upper() == "WATERMARK"
            and i + 2 < len(tokens)
            and tokens[i + 1].token_type == TokenType.FOR
        ):
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
                raise PlanError(
                    [
                        Diagnostic(
                            f"WATERMARK FOR {column} AS needs an expression, e.g. "
                            f"{column} - INTERVAL '5' SECOND",
                            positions.at(where.start),
                        )
                    ]
                )
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
            text = _blank(text, cut_from, cut_to)
            return text, (column, expr)
    return text, None


_VALUE_TOKENS = {TokenType.STRING, TokenType.NUMBER, TokenType.VAR, TokenType.TRUE, TokenType.FALSE}


def _option_value(value: list, positions: Positions) -> str:
    """One ``WITH`` value as text: a literal, a bare name (``event_time_field = datetime``),
    ``interval '10 minutes'`` (its text) or a list ``[a, b]`` (comma-joined), as Arroyo reads them."""
    kinds = [t.token_type for t in value]
    if len(value) == 1 and (kinds[0] in _VALUE_TOKENS or value[0].text.isidentifier()):
        return value[0].text
    if kinds == [TokenType.DASH, TokenType.NUMBER]:
        return "-" + value[1].text
    if (
        kinds
        and kinds[0] == TokenType.INTERVAL
        and len(value) in (2, 3)
        and kinds[1] in (TokenType.STRING, TokenType.NUMBER)
    ):
        return " ".join(t.text for t in value[1:])
    if kinds and kinds[0] == TokenType.L_BRACKET and kinds[-1] == TokenType.R_BRACKET:
        items = [t.text for t in value[1:-1] if t.token_type != TokenType.COMMA]
        if all(k != TokenType.L_BRACKET for k in kinds[1:-1]):
            return ",".join(items)
    where = value[0] if value else None
    raise PlanError(
        [
            Diagnostic(
                "expected a value after '=' in WITH (...): a string, number, name, interval or [list]",
                positions.at(where.start) if where else None,
            )
        ]
    )


def _cut_options(
    text: str, tokens: list, base: int, positions: Positions
) -> tuple[str, dict[str, str] | None]:
    """Read and remove ``WITH (key = value, …)`` of a CREATE TABLE (sqlglot mangles some keys)."""
    if len(tokens) < 3 or tokens[1].token_type not in (TokenType.TABLE, TokenType.TEMPORARY):
        return text, None
    depth = 0
    for i, tok in enumerate(tokens):
        if tok.token_type == TokenType.L_PAREN:
            depth += 1
        elif tok.token_type == TokenType.R_PAREN:
            depth -= 1
        elif (
            tok.token_type == TokenType.WITH
            and depth == 0
            and i + 1 < len(tokens)
            and tokens[i + 1].token_type == TokenType.L_PAREN
        ):
            options: dict[str, str] = {}
            j = i + 2
            while j < len(tokens) and tokens[j].token_type != TokenType.R_PAREN:
                key_parts = []
                while j < len(tokens) and tokens[j].token_type not in (
                    TokenType.EQ,
                    TokenType.R_PAREN,
                    TokenType.COMMA,
                ):
                    key_parts.append(tokens[j].text)
                    j += 1
                if j >= len(tokens) or tokens[j].token_type != TokenType.EQ or not key_parts:
                    where = tokens[min(j, len(tokens) - 1)]
                    raise PlanError(
                        [Diagnostic("expected 'key = value' in WITH (...)", positions.at(where.start))]
                    )
                j += 1
                value, nesting = [], 0  # the value's tokens, up to the next top-level ',' or ')'
                while j < len(tokens):
                    t = tokens[j].token_type
                    if nesting == 0 and t in (TokenType.COMMA, TokenType.R_PAREN):
                        break
                    nesting += t in (TokenType.L_BRACKET, TokenType.L_PAREN)
                    nesting -= t in (TokenType.R_BRACKET, TokenType.R_PAREN)
                    value.append(tokens[j])
                    j += 1
                if not value:
                    where = tokens[min(j, len(tokens) - 1)]
                    raise PlanError(
                        [Diagnostic("expected a value after '=' in WITH (...)", positions.at(where.start))]
                    )
                options["".join(key_parts).lower()] = _option_value(value, positions)
                if j < len(tokens) and tokens[j].token_type == TokenType.COMMA:
                    j += 1
            if j >= len(tokens):
                raise PlanError([Diagnostic("WITH (...) is not closed", positions.at(tok.start))])
            cut_from, cut_to = tok.start - base, tokens[j].end - base + 1
            text = _blank(text, cut_from, cut_to)
            return text, options
    return text, None


def _cut_metadata(text: str, tokens: list, base: int) -> tuple[str, dict[str, str]]:
    """Remove ``METADATA FROM 'key'`` from CREATE TABLE columns (sqlglot has no grammar for it)."""
    found: dict[str, str] = {}
    depth, column = 0, None
    for i, tok in enumerate(tokens):
        t = tok.token_type
        if t == TokenType.L_PAREN:
            depth += 1
            if depth == 1:
                column = None
            continue
        if t == TokenType.R_PAREN:
            depth -= 1
            continue
        if depth == 1 and t == TokenType.COMMA:
            column = None
            continue
        if depth == 1 and column is None:
            quoted = t == TokenType.IDENTIFIER
            column = tok.text if quoted else tok.text.lower()
        if (
            depth == 1
            and column is not None
            and tok.text.upper() == "METADATA"
            and i + 2 < len(tokens)
            and tokens[i + 1].token_type == TokenType.FROM
            and tokens[i + 2].token_type == TokenType.STRING
        ):
            found[column] = tokens[i + 2].text
            cut_from, cut_to = tok.start - base, tokens[i + 2].end - base + 1
            text = _blank(text, cut_from, cut_to)
    return text, found


def _rewrite_keywords(text: str, tokens: list, base: int) -> tuple[str, list[tuple[int, int, int]]]:
    """Words Arroyo uses as names but sqlglot reads as keywords.

    ``session(...)`` (the session window) is renamed ``session_window(...)``; ``window`` used as a
    column (``GROUP BY window``, ``window.start``) becomes the quoted identifier ``"window"``.
    Returns the text and its edits ``(offset in the original, original length, new length)``,
    so that positions in the rewritten text map back to what the user wrote.
    """
    edits: list[tuple[int, int, int]] = []
    for i in range(len(tokens) - 1, -1, -1):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        word = tok.text.lower()
        new = None
        if word == "session" and nxt is not None and nxt.token_type == TokenType.L_PAREN:
            new = "session_window"
        elif word == "window" and tok.token_type == TokenType.WINDOW:
            after = tokens[i + 2] if i + 2 < len(tokens) else None
            named_window_clause = after is not None and after.token_type == TokenType.ALIAS
            if not named_window_clause:
                new = '"window"'
        if new is not None:
            start, end = tok.start - base, tok.end - base + 1
            text = text[:start] + new + text[end:]
            edits.append((start, end - start, len(new)))
    return text, sorted(edits)


def _original_offset(offset: int, edits: list[tuple[int, int, int]]) -> int:
    """An offset in the rewritten text as an offset in the statement as written."""
    shift = 0
    for start, old_len, new_len in edits:
        if offset < start + shift + new_len:
            return max(start, offset - shift) if offset >= start + shift else offset - shift
        shift += new_len - old_len
    return offset - shift


# SQL statements a pipeline has no use for: refused by name, not as a syntax error
_UNSUPPORTED_STATEMENTS = {
    "EXPLAIN", "DROP", "SHOW", "UPDATE", "DELETE", "ALTER", "TRUNCATE", "MERGE", "COPY", "DESCRIBE",
    "USE", "BEGIN", "COMMIT", "ROLLBACK", "START", "GRANT", "REVOKE", "ANALYZE", "PREPARE", "EXECUTE",
}  # fmt: skip
_STATEMENT_WORDS = {"SELECT", "WITH", "INSERT", "CREATE", "SET", "VALUES"} | _UNSUPPORTED_STATEMENTS


def _syntax_error(original: str, start: SqlLocation, end: SqlLocation, fallback: dict) -> PlanError:
    """A syntax error in sqlparser's words (Arroyo's parser), under the token it is about.

    ``original`` is the statement as written (WITH options and watermark blanked, same length).
    DataFusion's parser says what it expected and found; sqlglot's description is the fallback.
    """
    from datafusion import SessionContext

    try:
        SessionContext().sql(original)
        message = None
    except Exception as err:  # DataFusion raises plain exceptions
        message = str(err)
    parsed = re.search(r'ParserError\("(.*?)(?: at Line: (\d+), Column: (\d+))?"\)', message or "")
    if parsed:
        text = parsed.group(1)
        if parsed.group(2):
            line, col = int(parsed.group(2)), int(parsed.group(3))
            where = SqlLocation(start.line + line - 1, col + (start.column - 1 if line == 1 else 0))
        else:  # "found: EOF": the end of the statement
            where = end
        return PlanError([Diagnostic(f"SQL error: {text}", where)])
    info = fallback
    line = (info.get("line") or 1) + start.line - 1
    col = max(1, (info.get("col") or 1) - len(info.get("highlight") or " ") + 1)
    if (info.get("line") or 1) == 1:
        col += start.column - 1
    desc = info.get("description") or "syntax error"
    found = (info.get("highlight") or "").strip()
    expecting = re.match(r"Expecting (.+)", desc)
    if "Required keyword" in desc or "missing for" in desc:
        desc = "incomplete SQL: something is missing here"
    elif expecting and found:  # sqlglot's words in sqlparser's form: what was expected, what was found
        desc = f"Expected: {expecting.group(1)}, found: {found}"
    elif "Unexpected token" in desc and found:
        desc = f"Expected: an expression, found: {found}"
    return PlanError([Diagnostic(f"SQL error: {desc}", SqlLocation(line, col))])


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
        metadata: dict[str, str] = {}
        if group[0].token_type == TokenType.CREATE:
            text, options = _cut_options(text, group, base, positions)
            text, watermark = _cut_watermark(text, group, base, positions)
            text, metadata = _cut_metadata(text, group, base)
        first = group[0]
        if first.text.upper() not in _STATEMENT_WORDS and first.token_type != TokenType.L_PAREN:
            where = positions.at(first.start)
            raise PlanError(
                [
                    Diagnostic(
                        f"SQL error: Expected: an SQL statement, found: {first.text}",
                        where,
                        positions.at(first.end),
                    )
                ]
            )
        if first.text.upper() in _UNSUPPORTED_STATEMENTS:
            raise PlanError(
                [
                    Diagnostic(
                        f"unsupported statement '{first.text.upper()}': a pipeline is CREATE TABLE, "
                        "CREATE VIEW, SET, INSERT INTO and SELECT statements",
                        positions.at(first.start),
                        positions.at(first.end),
                    )
                ]
            )
        blanked = text
        text, edits = _rewrite_keywords(text, group, base)
        start, end = positions.at(base), positions.at(group[-1].end)
        try:
            parsed = sqlglot.parse(text, read=DIALECT)
        except ParseError as err:
            raise _syntax_error(blanked, start, end, err.errors[0] if err.errors else {}) from None
        trees = [p for p in parsed if p is not None]
        if len(trees) != 1:
            raise PlanError([Diagnostic("expected one statement", start, end)])
        if isinstance(trees[0], exp.Command):  # sqlglot gave up on the grammar: the parser's words
            refusal = _syntax_error(blanked, start, end, {})
            if "Expected:" in refusal.diagnostics[0].message:
                raise refusal
        # unquoted names fold to lower case, as Arroyo's parser does
        ast = cast(exp.Expression, normalize_identifiers(trees[0], dialect=DIALECT))
        if (
            isinstance(ast, exp.Create)
            and (ast.args.get("kind") or "").upper() == "TABLE"
            and isinstance(ast.expression, exp.Query)
            and not isinstance(ast.this, exp.Schema)
        ):
            ast.set("kind", "VIEW")  # CREATE TABLE t AS SELECT: a table defined by a query (a view)
        raw = script[base : group[-1].end + 1]
        statements.append(Statement(ast, text, start, end, watermark, options, edits, blanked, metadata, raw))
    if not statements:
        raise PlanError([Diagnostic("Query is empty!")])
    return statements
