"""Tokens at rest: Fernet (AES-128-CBC with HMAC-SHA256) under TOKEN_ENCRYPTION_KEY."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

NO_KEY = (
    "Linking Buddy accounts is switched off: the bot's operator has not set TOKEN_ENCRYPTION_KEY, "
    'without which no token is kept. Ask them to set it (the README\'s "Linking your Buddy account" says how).'
)


class VaultLocked(Exception):
    """No TOKEN_ENCRYPTION_KEY: tokens can be neither kept nor read. The message is for the person."""

    def __init__(self) -> None:
        super().__init__(NO_KEY)


class Unreadable(Exception):
    """A stored token that this key did not encrypt (the key was changed): the person links again."""


class Vault:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key) if key else None

    @property
    def locked(self) -> bool:
        return self._fernet is None

    def seal(self, secret: str) -> str:
        if self._fernet is None:
            raise VaultLocked()
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        if self._fernet is None:
            raise VaultLocked()
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise Unreadable("the stored token was encrypted with another TOKEN_ENCRYPTION_KEY") from None
