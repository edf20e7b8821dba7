"""Password checks of the sandbox: does a password match a stored plaintext or an imported hash.

One verifier per WorkOS ``password_hash_type``, built with bcrypt, argon2-cffi and cryptography (and the
standard library's SHA digests), written independently of the client's hash registry so that a converter
mistake shows up as a failed sign-in, not as two copies of the same bug. ``parse`` is used when a hash is
stored (an unparsable one is 400 ``invalid_password_hash``), ``matches`` when someone signs in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable

import argon2
import bcrypt
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = ["matches", "parse"]

Verifier = Callable[[bytes], bool]

_BCRYPT = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")
_B64 = r"[A-Za-z0-9+/_-]+=*"
_FIREBASE = re.compile(rf"\$firebase-scrypt\$hash=({_B64})\$salt=({_B64})\$sk=({_B64})\$ss=({_B64})\$r=(\d+)\$m=(\d+)")
_SCRYPT = re.compile(rf"\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$({_B64})\$({_B64})")
_PBKDF2 = re.compile(rf"\$pbkdf2-(sha1|sha256|sha512)\$i=(\d+)(?:,l=(\d+))?\$({_B64})\$({_B64})")
_SSHA = re.compile(rf"(?:\{{SSHA(?:256)?\}})?({_B64})", re.IGNORECASE)
_PBKDF2_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha512": hashes.SHA512,
}
_ARGON2 = argon2.PasswordHasher()


def _b64(text: str) -> bytes:
    standard = text.rstrip("=").replace("-", "+").replace("_", "/")
    return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)


def _bcrypt(value: str) -> Verifier | None:
    if not _BCRYPT.fullmatch(value):
        return None
    return lambda password: bcrypt.checkpw(password, value.encode())


def _firebase(value: str) -> Verifier | None:
    """Firebase's scrypt: AES-256-CTR of the signer key, keyed by scrypt(password, salt + separator)."""
    match = _FIREBASE.fullmatch(value)
    if match is None:
        return None
    digest, salt, signer, separator = (_b64(part) for part in match.groups()[:4])
    rounds, mem_cost = int(match.group(5)), int(match.group(6))
    if not 1 <= mem_cost <= 20 or rounds < 1:
        return None

    def verify(password: bytes) -> bool:
        key = Scrypt(salt=salt + separator, length=32, n=1 << mem_cost, r=rounds, p=1).derive(password)
        encryptor = Cipher(algorithms.AES(key), modes.CTR(b"\x00" * 16)).encryptor()
        return hmac.compare_digest(encryptor.update(signer) + encryptor.finalize(), digest)

    return verify


def _argon2(value: str) -> Verifier | None:
    try:
        argon2.extract_parameters(value)
    except argon2.exceptions.InvalidHashError:
        return None

    def verify(password: bytes) -> bool:
        try:
            return _ARGON2.verify(value, password)
        except argon2.exceptions.VerificationError:
            return False

    return verify


def _scrypt(value: str) -> Verifier | None:
    match = _SCRYPT.fullmatch(value)
    if match is None or not 1 <= int(match.group(1)) <= 24:
        return None
    ln, r, p = (int(part) for part in match.groups()[:3])
    salt, digest = _b64(match.group(4)), _b64(match.group(5))

    def verify(password: bytes) -> bool:
        try:
            Scrypt(salt=salt, length=len(digest), n=1 << ln, r=r, p=p).verify(password, digest)
        except InvalidKey:
            return False
        return True

    return verify


def _pbkdf2(value: str) -> Verifier | None:
    match = _PBKDF2.fullmatch(value)
    if match is None:
        return None
    algorithm, iterations = _PBKDF2_DIGESTS[match.group(1)], int(match.group(2))
    salt, digest = _b64(match.group(4)), _b64(match.group(5))
    if match.group(3) and int(match.group(3)) != len(digest):
        return None

    def verify(password: bytes) -> bool:
        try:
            PBKDF2HMAC(algorithm(), len(digest), salt, iterations).verify(password, digest)
        except InvalidKey:
            return False
        return True

    return verify


def _ssha(value: str, size: int, salt_position: str) -> Verifier | None:
    match = _SSHA.fullmatch(value)
    if match is None:
        return None
    blob = _b64(match.group(1))
    if len(blob) <= size:
        return None
    digest, salt = blob[:size], blob[size:]
    algorithm = hashlib.sha1 if size == 20 else hashlib.sha256

    def verify(password: bytes) -> bool:
        message = salt + password if salt_position == "prefix" else password + salt
        return hmac.compare_digest(algorithm(message).digest(), digest)

    return verify


def parse(hash_type: str, value: str, salt_position: str | None = None) -> Verifier | None:
    """The verifier of a WorkOS hash string of ``hash_type``, or None when the string does not parse."""
    try:
        if hash_type == "bcrypt":
            return _bcrypt(value)
        if hash_type == "firebase-scrypt":
            return _firebase(value)
        if hash_type == "argon2":
            return _argon2(value)
        if hash_type == "scrypt":
            return _scrypt(value)
        if hash_type == "pbkdf2":
            return _pbkdf2(value)
        if hash_type == "ssha":
            return _ssha(value, 20, "suffix")
        if hash_type == "ssha256":
            return _ssha(value, 32, salt_position or "suffix")
    except (binascii.Error, ValueError):
        return None
    return None


def matches(stored: dict[str, str], password: str) -> bool:
    """Whether ``password`` signs in against what a user holds (a plaintext or an imported hash)."""
    if "password" in stored:
        return hmac.compare_digest(stored["password"].encode(), password.encode())
    verify = parse(stored["password_hash_type"], stored["password_hash"], stored.get("password_salt_position"))
    return verify is not None and verify(password.encode())
