"""Password hashing with argon2id (argon2-cffi), parameters from a named RFC 9106 profile."""

from __future__ import annotations

from functools import cached_property

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from ..config import PasswordHashProfile


class Passwords:
    def __init__(self, profile: PasswordHashProfile) -> None:
        self._hasher = PasswordHasher.from_parameters(getattr(profiles, profile.upper()))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def verify_nothing(self, password: str) -> None:
        """Spend the time a real check takes, so unknown emails cannot be told apart by timing."""
        self.verify(self._dummy_hash, password)

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash("not-a-real-password")
