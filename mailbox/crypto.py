"""Mailbox passwords at rest: Fernet with a key from the environment.

MAILBOX_ENCRYPTION_KEY holds one or more Fernet keys separated by commas: the first encrypts,
all decrypt (rotate by putting the new key first, re-saving the passwords, then dropping the
old one). Without it — development only, refused when DEBUG is off — a key is derived from
SECRET_KEY with HKDF, so changing SECRET_KEY then makes stored passwords unreadable.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["InvalidToken", "decrypt", "encrypt"]

_HKDF_INFO = b"trade-crm mailbox password v1"


def _dev_key():
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        settings.SECRET_KEY.encode()
    )
    return base64.urlsafe_b64encode(derived)


def _fernet():
    keys = [k.strip() for k in (settings.MAILBOX_ENCRYPTION_KEY or "").split(",") if k.strip()]
    if not keys:
        if not settings.DEBUG:
            raise ImproperlyConfigured(
                "Set MAILBOX_ENCRYPTION_KEY (a Fernet key) to store mailbox passwords."
            )
        keys = [_dev_key()]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as error:
        raise ImproperlyConfigured(f"MAILBOX_ENCRYPTION_KEY is not a Fernet key: {error}") from None


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """The password; raises InvalidToken when no configured key opens it."""
    return _fernet().decrypt(token.encode("ascii")).decode()
