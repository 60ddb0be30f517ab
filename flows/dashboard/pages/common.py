"""Helpers the pages share: paging, and fetching a few documents' texts by id."""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 20
SNIPPET_CHARS = 600


@dataclass(frozen=True)
class Paging:
    page: int
    size: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        return self.page * self.size

    @classmethod
    def from_params(cls, params, size: int = PAGE_SIZE) -> Paging:
        try:
            page = max(0, min(int(params.get("page", 0)), 1_000_000))
        except ValueError:
            page = 0
        return cls(page, size)


def page_of(store, sql: str, params: list, paging: Paging) -> tuple[list[dict], bool]:
    """(rows of this page, whether there is a next page): one row more than a page is read."""
    rows = store.rows(f"{sql} LIMIT {paging.size + 1} OFFSET {paging.offset}", params)
    return rows[: paging.size], len(rows) > paging.size


def documents_by_id(store, run_id: str, ids: list[str], chars: int = SNIPPET_CHARS) -> dict:
    """{id: {source, file, line, n_chars, text (first `chars`)}} from the run's ingest
    output, which holds every document a later stage may have removed."""
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = store.rows(
        "SELECT id, source, file, line, n_chars, left(text, ?) AS text FROM documents_all "
        f"WHERE run_id = ? AND stage = 'ingest' AND id IN ({marks})",
        [chars, run_id, *ids],
    )
    return {r["id"]: r for r in rows}


def base_name(path: str | None) -> str:
    return (path or "").rsplit("/", 1)[-1]
