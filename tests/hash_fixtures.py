"""Real hashes of known passwords in each source's own layout, cheap to compute (low costs), for tests.

Every function hashes with the library the source itself would use (bcrypt, argon2-cffi, hashlib,
cryptography), so a converted user signing in proves the conversion, not a round trip through our code.
"""

from __future__ import annotations

import base64
import hashlib
import os

import argon2
import bcrypt
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# The public firebase-scrypt test vector (password "user1password"), from the firebase-scrypt package.
FIREBASE_VECTOR = {
    "password": "user1password",
    "passwordHash": "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==",
    "salt": "42xEC+ixf3L2lw==",
}
FIREBASE_VECTOR_CONFIG = """hash_config {
  algorithm: SCRYPT,
  base64_signer_key: jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==,
  base64_salt_separator: Bw==,
  rounds: 8,
  mem_cost: 14,
}
"""
# A cheap project for generated Firebase users: same signer key and separator, tiny scrypt cost.
FIREBASE_CHEAP_ROUNDS, FIREBASE_CHEAP_MEM_COST = 1, 4
FIREBASE_CHEAP_CONFIG = FIREBASE_VECTOR_CONFIG.replace("rounds: 8", f"rounds: {FIREBASE_CHEAP_ROUNDS}").replace(
    "mem_cost: 14", f"mem_cost: {FIREBASE_CHEAP_MEM_COST}"
)
_SIGNER_KEY = base64.b64decode(
    "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="
)
_SALT_SEPARATOR = b"\x07"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def bcrypt_hash(password: str, prefix: str = "2b") -> str:
    value = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    return f"${prefix}${value[4:]}"


def argon2_hash(password: str, variant: str = "id") -> str:
    kind = {"id": Type.ID, "i": Type.I, "d": Type.D}[variant]
    return argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=kind).hash(password)


def argon2_raw(password: str, salt: bytes, *, memory: int = 64, iterations: int = 1, lanes: int = 1) -> bytes:
    return hash_secret_raw(password.encode(), salt, iterations, memory, lanes, 32, Type.ID)


def pbkdf2_raw(password: str, salt: bytes, iterations: int = 1000, name: str = "sha256", length: int = 32) -> bytes:
    return hashlib.pbkdf2_hmac(name, password.encode(), salt, iterations, length)


def scrypt_raw(password: str, salt: bytes, n: int = 16, r: int = 8, p: int = 1, length: int = 64) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=length)


def firebase_user_hash(password: str) -> tuple[str, str]:
    """(passwordHash, salt) as Firebase exports them, under the cheap project parameters."""
    salt = os.urandom(12)
    key = hashlib.scrypt(
        password.encode(),
        salt=salt + _SALT_SEPARATOR,
        n=1 << FIREBASE_CHEAP_MEM_COST,
        r=FIREBASE_CHEAP_ROUNDS,
        p=1,
        dklen=32,
    )
    encryptor = Cipher(algorithms.AES(key), modes.CTR(b"\x00" * 16)).encryptor()
    return b64(encryptor.update(_SIGNER_KEY) + encryptor.finalize()), b64(salt)


def ssha(password: str, salt: bytes, *, sha256: bool = False) -> str:
    digest = (hashlib.sha256 if sha256 else hashlib.sha1)(password.encode() + salt).digest()
    return ("{SSHA256}" if sha256 else "{SSHA}") + b64(digest + salt)


def django_pbkdf2(password: str, salt: str = "aZl1Pq9xQ0Zx2cT3nV8bLm", iterations: int = 1000) -> str:
    return f"pbkdf2_sha256${iterations}${salt}${b64(pbkdf2_raw(password, salt.encode(), iterations))}"


def django_scrypt(password: str, salt: str = "Xq2bT9pLm4") -> str:
    return f"scrypt$16${salt}$8$1${b64(scrypt_raw(password, salt.encode()))}"
