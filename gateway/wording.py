"""How counts read for people: ``1 bed``, ``2 beds`` — never ``1 beds``."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "bed")`` → ``1 bed``; ``plural(3, "bed")`` → ``3 beds``; ``many`` for a
    word whose plural is not ``word + "s"``."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
