"""Objects of one kind kept in creation order, and WorkOS cursor pagination over any ordered subset of them.

A ``Collection`` maps id to the object's JSON dict and remembers each id's creation position forever, so a
cursor still has a place after its object is deleted. ``paginate`` answers ``limit``/``before``/``after``/
``order`` with the real API's envelope; an unknown cursor gives an empty page rather than restarting.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from core.workos.sandbox.problems import invalid_params, not_found

__all__ = ["Collection", "paginate"]


class Collection:
    """Live objects by id plus the append-only creation order of every id ever added."""

    __slots__ = ("live", "order", "position")

    def __init__(self) -> None:
        self.live: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.position: dict[str, int] = {}

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        object_id = obj["id"]
        self.live[object_id] = obj
        self.position[object_id] = len(self.order)
        self.order.append(object_id)
        return obj

    def remove(self, object_id: str) -> dict[str, Any] | None:
        return self.live.pop(object_id, None)

    def require(self, object_id: str, kind: str) -> dict[str, Any]:
        """The live object, or a 404 naming ``kind`` and the id."""
        obj = self.live.get(object_id)
        if obj is None:
            raise not_found(kind, object_id)
        return obj

    def require_by(self, index: Mapping[str, str], key: str, kind: str) -> dict[str, Any]:
        """The live object that ``index`` maps ``key`` to (e.g. an external id), or a 404 naming the key."""
        object_id = index.get(key)
        if object_id is None:
            raise not_found(kind, key)
        return self.live[object_id]


def _list_envelope(data: list[dict[str, Any]], before: str | None, after: str | None) -> dict[str, Any]:
    return {"object": "list", "data": data, "list_metadata": {"before": before, "after": after}}


def _limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit", "10")
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise invalid_params("limit must be an integer between 1 and 100.", field="limit")
    return limit


def paginate(
    collection: Collection,
    candidates: Sequence[str],
    query: Mapping[str, str],
    render: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return one page of ``candidates`` (ids in creation order, possibly including deleted ones).

    ``order`` is ``desc`` (default; ``normal`` means the same) or ``asc``. ``after`` gives the items that
    follow the cursor in that order, ``before`` the ``limit`` items just ahead of it. ``render`` maps a
    stored object to its JSON (identity when None). Raises 422 for a bad ``limit`` or ``order``.
    """
    limit = _limit(query)
    order = query.get("order", "desc")
    if order not in ("desc", "asc", "normal"):
        raise invalid_params("order must be 'asc', 'desc' or 'normal'.", field="order")
    step = 1 if order == "asc" else -1
    after, before = query.get("after"), query.get("before")
    cursor = after or before
    position = collection.position
    if cursor is not None and cursor not in position:
        return _list_envelope([], None, None)

    def index_of(object_id: str, right: bool) -> int:
        finder = bisect_right if right else bisect_left
        return finder(candidates, position[object_id], key=position.__getitem__)

    if cursor is None:
        start, direction = (0 if step == 1 else len(candidates) - 1), step
    elif after:
        start, direction = (index_of(after, True) if step == 1 else index_of(after, False) - 1), step
    else:
        start, direction = (index_of(cursor, False) - 1 if step == 1 else index_of(cursor, True)), -step
    ids = list(_take(collection.live, candidates, start, direction, limit))
    if direction != step:
        ids.reverse()
    if not ids:
        return _list_envelope([], None, None)
    first, last = ids[0], ids[-1]
    first_i, last_i = index_of(first, False), index_of(last, False)
    has_before = any(True for _ in _take(collection.live, candidates, first_i - step, -step, 1))
    has_after = any(True for _ in _take(collection.live, candidates, last_i + step, step, 1))
    live = collection.live
    data = [live[i] if render is None else render(live[i]) for i in ids]
    return _list_envelope(data, first if has_before else None, last if has_after else None)


def _take(live: Mapping[str, Any], candidates: Sequence[str], start: int, step: int, count: int) -> Iterator[str]:
    index, taken, size = start, 0, len(candidates)
    while 0 <= index < size and taken < count:
        object_id = candidates[index]
        if object_id in live:
            taken += 1
            yield object_id
        index += step
