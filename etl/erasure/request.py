"""Who `facelake forget` erases: a SiW subject or a registry user, checked and named only by a hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from etl.errors import UsageError, require
from etl.lake.lake import Lake
from schemas import ALL_TABLES
from schemas.erasures import ERASURE_KINDS
from schemas.vocabulary import EmbeddingSource, ErasureKind

__all__ = ["MAX_SUBJECT", "ForgetRefused", "ForgetRequest", "check_lake", "sha256_hex"]

MAX_SUBJECT = 2**31 - 1  # the subject column is int32


def sha256_hex(text: str) -> str:
    """The hex sha256 of `text` (UTF-8): how records and delete predicates name a person."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ForgetRefused(UsageError):
    """The lake cannot be erased from as asked (no tables there)."""


@dataclass(frozen=True)
class ForgetRequest:
    """Who to forget: kind `subject` (a SiW subject number) or `user` (a registry user name).

    `person` is stored canonical: a subject as plain decimal ("7" for "007"), a user as
    given. Logs and records name the person only by `label` (kind and hash prefix).

    Raises:
        UsageError: an unknown kind, or a person that is not a subject number / one folder name.
    """

    kind: str
    person: str
    dry_run: bool = False

    def __post_init__(self) -> None:
        require(self.kind in ERASURE_KINDS, f"kind {self.kind!r} is not one of {', '.join(ERASURE_KINDS)}")
        require(isinstance(self.person, str), f"the person must be given as text, got {type(self.person).__name__}")
        if self.kind == ErasureKind.SUBJECT:
            text = self.person.strip()
            require(
                text.isascii() and text.isdigit(),
                f"must be a SiW subject number such as 7 or 007, got {self.person!r}",
                option="subject",
            )
            number = int(text)
            require(number <= MAX_SUBJECT, f"must be at most {MAX_SUBJECT}, got {self.person!r}", option="subject")
            object.__setattr__(self, "person", str(number))
        else:
            require(
                self.person != "",
                "is empty; pass the registry user name (its folder in the photo tree)",
                option="user",
            )
            require(
                "/" not in self.person
                and self.person not in (".", "..")
                and not any(ord(c) < 32 or ord(c) == 127 for c in self.person),
                f"must be one folder name of the photo tree (no '/', no control characters), got {self.person!r}",
                option="user",
            )

    @classmethod
    def from_options(cls, *, subject: str | None, user: str | None, dry_run: bool = False) -> ForgetRequest:
        """The request for exactly one of `subject` and `user` (UsageError for both or neither)."""
        require(
            (subject is None) != (user is None),
            "pass exactly one of {option:subject} ID or {option:user} NAME, got "
            + ("both" if subject is not None else "neither"),
        )
        if subject is not None:
            return cls(kind=ErasureKind.SUBJECT, person=subject, dry_run=dry_run)
        return cls(kind=ErasureKind.USER, person=user, dry_run=dry_run)

    @property
    def sha256(self) -> str:
        return sha256_hex(self.person)

    @property
    def label(self) -> str:
        return f"{self.kind} sha256:{self.sha256[:12]}"

    @property
    def source(self) -> str:
        """The `source` value of the embeddings and identity rows of this kind of person."""
        return EmbeddingSource.FRAMES if self.kind == ErasureKind.SUBJECT else EmbeddingSource.PHOTOS

    @property
    def subject(self) -> int:
        return int(self.person)


def check_lake(lake: Lake) -> None:
    """Refuse a lake holding no facelake table, before any work.

    Raises:
        ForgetRefused: none of the tables is there.
    """
    if not any(lake.exists(spec) for spec in ALL_TABLES.values()):
        raise ForgetRefused(
            f"the lake at {lake.root} holds none of the tables {', '.join(ALL_TABLES)}; pass the root that holds them"
        )
