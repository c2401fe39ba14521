"""Pages of the list endpoints (submissions, registrations) whose cost does not grow with the table.

A page is one index range read: ``WHERE <filters> [AND id < cursor] ORDER BY id DESC LIMIT
limit + 1`` (the one extra row says whether there is a next page, whose cursor is the last id
shown). The answer's ``total`` counts at most ``LIST_TOTAL_CAP + 1`` rows: it is exact up to
that cap (``schemas``) and otherwise the cap with ``total_is_lower_bound`` true, as a search engine
says "10,000+ results". ``offset`` still works for existing clients but reads and skips the rows
before it: the cursor is the way through a long history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, select, true, union_all
from sqlalchemy.orm import Session

from ..db import count_at_most
from ..request_bodies import LIST_TOTAL_CAP

#: the OpenAPI description of a list answer
ANSWER = ("A page: the rows, `limit`, `offset`, the cursor sent, `next` (the cursor of the following "
          "page, null on the last), `total` (exact up to 10,000) and `total_is_lower_bound`.")


def capped_total(session: Session, id_column: Any, conditions: Sequence[ColumnElement[bool]], *,
                 shown: int | None = None) -> tuple[int, bool]:
    """How many rows match, counting at most ``LIST_TOTAL_CAP + 1`` of them (one index range).
    ``shown``: how many rows a page read from the start of the list (no cursor) found in all,
    when that page was its last: then it is the count and no query is needed."""
    return capped_branch_total(session, id_column, [true()], conditions, shown=shown)


def capped_branch_total(session: Session, id_column: Any, branches: Sequence[ColumnElement[bool]],
                        conditions: Sequence[ColumnElement[bool]], *, shown: int | None = None) -> tuple[int, bool]:
    """``capped_total`` of rows matching any of ``branches`` (disjoint conditions, as for
    ``branch_page``): each branch counts its own index range, in one statement."""
    if shown is not None:
        count = shown
    else:
        counts = [count_at_most(id_column, [*conditions, branch], LIST_TOTAL_CAP + 1).scalar_subquery()
                  for branch in branches]
        count = sum(c or 0 for c in session.execute(select(*counts)).one())
    return min(count, LIST_TOTAL_CAP), count > LIST_TOTAL_CAP


def shown_in_all(rows: list[Any], *, offset: int, cursor: int | None, next_cursor: int | None) -> int | None:
    """The number of rows the filters match, when a page tells it: read from the start (no
    cursor), with nothing after it, and not an offset past the end."""
    if cursor is None and next_cursor is None and (rows or not offset):
        return offset + len(rows)
    return None


def page(session: Session, stmt: Select, id_column: Any, *, limit: int, offset: int = 0, cursor: int | None = None,
         descending: bool = True) -> tuple[list[Any], int | None]:
    """One page of ``stmt`` in id order (ORM objects for an entity, else Core rows), and the
    cursor of the next page or None."""
    if cursor is not None:
        stmt = stmt.where(id_column < cursor if descending else id_column > cursor)
    order = id_column.desc() if descending else id_column.asc()
    result = session.execute(stmt.order_by(order).limit(limit + 1).offset(offset))
    rows = list(result.scalars().all() if stmt.column_descriptions[0].get("entity") is not None
                and len(stmt.column_descriptions) == 1 else result.all())
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].id
    return rows, None


def branch_page(session: Session, stmt: Select, id_column: Any, branches: Sequence[ColumnElement[bool]], *,
                limit: int, offset: int = 0, cursor: int | None = None) -> tuple[list[Any], int | None]:
    """``page`` (newest first, Core rows) of the rows of ``stmt`` matching any of ``branches``,
    which must be disjoint (e.g. a user's personal rows, and each of their teams'). Each branch
    reads its own index range, at most the page's length, and the union is cut to the page:
    one WHERE with an OR of them made PostgreSQL walk the primary key backwards through the
    table, or read the whole history and sort it (bench B8)."""
    if len(branches) == 1:
        return page(session, stmt.where(branches[0]), id_column, limit=limit, offset=offset, cursor=cursor)
    bounded = stmt.where(id_column < cursor) if cursor is not None else stmt
    parts = [select(bounded.where(branch).order_by(id_column.desc()).limit(limit + offset + 1).subquery())
             for branch in branches]
    merged = union_all(*parts).subquery()
    rows = list(session.execute(select(merged).order_by(merged.c[id_column.key].desc())
                                .limit(limit + 1).offset(offset)).all())
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].id
    return rows, None


def answer(key: str, items: list[Any], *, limit: int, offset: int, cursor_name: str, cursor: int | None,
           next_cursor: int | None, total: tuple[int, bool]) -> dict[str, Any]:
    return {
        key: items,
        "total": total[0],
        "total_is_lower_bound": total[1],
        "limit": limit,
        "offset": offset,
        cursor_name: cursor,
        "next": next_cursor,
    }
