"""Consents: how a node knows that a task's owner accepted a patch that shifts it (``docs/scheduling.md``).

A task agent books its task with a secret ``key`` (:func:`new_key`), sent only to the node in its ``add``:
direct messages are private to sender and receiver (the broker's ACL), and no key is ever part of a
schedule record. Accepting a review, the task answers with a *consent* -- an HMAC under its key of what it
accepted: the initiator, the resource, the version the patch was computed against and the start it is moved
to. The initiator hands each consent to the node with the shift; the node verifies it against the key of
the booking. Nobody but the owner can make a consent, and one consent fits one patch of one initiator at
one version (versions only grow), so it cannot be reused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["KEY_CHARS", "consent", "new_key", "valid_consent"]

KEY_CHARS = 32  # 128 random bits, hex


def new_key() -> str:
    """A fresh booking key (128 random bits)."""
    return secrets.token_hex(KEY_CHARS // 2)


def consent(key: str, *, task: str, initiator: str, resource: str, base_version: int, start: float) -> str:
    """The token by which ``task``'s owner accepts ``initiator``'s patch of ``resource`` at ``base_version``
    moving it to ``start``."""
    what = f"sched.consent|{task}|{initiator}|{resource}|{base_version}|{float(start)!r}"
    return hmac.new(key.encode(), what.encode(), hashlib.sha256).hexdigest()


def valid_consent(token: str | None, key: str, *, task: str, initiator: str, resource: str, base_version: int,
                  start: float) -> bool:
    """True if ``token`` is the owner's consent to exactly this shift (compared in constant time)."""
    if token is None:
        return False
    expected = consent(key, task=task, initiator=initiator, resource=resource, base_version=base_version,
                       start=start)
    return hmac.compare_digest(token, expected)
