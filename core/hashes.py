"""The password hash registry: what a source's hash is, and the string WorkOS imports for it.

``convert`` detects the algorithm from the value (and the source's own name for it, when the source keeps
one) and returns an ``ImportHash`` (WorkOS's ``password_hash_type``, ``password_hash`` and, for ssha256,
``password_salt_position``) or a ``Refusal`` naming the algorithm and why WorkOS cannot take it. Nothing is
guessed: a value that matches no known layout is refused, never sent as bcrypt. ``check`` is the other
half, used by ``validate``: does a string parse as the WorkOS form of its type. Detection and conversion
only re-encode; nothing here computes a hash. Messages never quote a hash.

WorkOS documents the string form of bcrypt and firebase-scrypt only; for the other types this module
emits the standard forms (PHC strings for argon2, scrypt and pbkdf2; LDAP ``{SSHA}``/``{SSHA256}``), which
``UNPROVEN`` marks so the plan can tell the user to check them with a login canary first.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.errors import OptionsError
from core.rules import HASH_TYPES

__all__ = [
    "BCRYPT_PATTERN",
    "PROVEN",
    "UNPROVEN",
    "FirebaseParams",
    "ImportHash",
    "Refusal",
    "RefusalReason",
    "argon2_phc",
    "check",
    "convert",
    "firebase_scrypt",
    "keycloak_password",
    "parse_firebase_params",
    "pbkdf2_phc",
    "unproven_warning",
]

BCRYPT_PATTERN = r"\$2[aby]\$(?:0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}+"
"""bcrypt's modular crypt form as WorkOS takes it (``$2x$``, the buggy variant, is not bcrypt)."""

PROVEN = frozenset({"bcrypt", "firebase-scrypt"})
"""Types whose string form WorkOS documents."""
UNPROVEN = frozenset(HASH_TYPES) - PROVEN
"""Types WorkOS accepts whose exact string form it does not document: prove them with a login canary."""


class RefusalReason(StrEnum):
    """Why a hash cannot be imported (the reset list's reasons)."""

    NOT_IMPORTABLE = "hash_not_importable"
    UNRECOGNISED = "hash_unrecognised"
    MALFORMED = "hash_malformed"
    PARAMS_MISSING = "hash_params_missing"


@dataclass(frozen=True, slots=True)
class ImportHash:
    """What WorkOS imports: ``password_hash_type``, ``password_hash`` and (ssha256 only) the salt position."""

    hash_type: str
    value: str = field(repr=False)
    salt_position: str | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A hash WorkOS cannot import: the algorithm (a name, never the value), the reason and a sentence."""

    algorithm: str
    reason: RefusalReason
    detail: str


Conversion = ImportHash | Refusal


@dataclass(frozen=True, slots=True)
class FirebaseParams:
    """A Firebase project's password hash parameters (Console -> Authentication -> Users -> hash parameters)."""

    signer_key: bytes = field(repr=False)
    salt_separator: bytes
    rounds: int
    mem_cost: int


_B64_TEXT = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_PHC_B64 = r"[A-Za-z0-9+/]+={0,2}"
_BCRYPT = re.compile(BCRYPT_PATTERN).fullmatch
_ARGON2 = re.compile(
    rf"\$argon2(id|i|d)\$(?:v=(\d+)\$)?m=(\d+),t=(\d+),p=(\d+)(?:,[a-z]+=[^$]*)*\$({_PHC_B64})\$({_PHC_B64})"
).fullmatch
_SCRYPT = re.compile(rf"\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$({_PHC_B64})\$({_PHC_B64})").fullmatch
_PBKDF2 = re.compile(rf"\$pbkdf2-(sha1|sha256|sha512)\$i=(\d+)(?:,l=(\d+))?\$({_PHC_B64})\$({_PHC_B64})").fullmatch
# passlib's own layout: rounds alone, then salt and digest in its adapted base64 ('.' for '+').
_PASSLIB_PBKDF2 = re.compile(r"\$pbkdf2(?:-(sha256|sha512))?\$(\d+)\$([./A-Za-z0-9]+)\$([./A-Za-z0-9]+)").fullmatch
_FBSCRYPT = re.compile(r"\$fbscrypt\$v=1,([^$]*)\$([^$]+)\$([^$]+)").fullmatch
_SSHA = re.compile(r"\{(SSHA|SSHA256)\}([A-Za-z0-9+/]+={0,2})", re.IGNORECASE).fullmatch
_HEX = re.compile(r"[0-9a-fA-F]+").fullmatch
_DIGEST_BYTES = {"sha1": 20, "sha256": 32, "sha512": 64}
_HEX_NAMES = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}

# Layouts recognised by their prefix that WorkOS has no type for (the reset list names them).
_NOT_IMPORTABLE_PREFIXES = (
    ("$2x$", "bcrypt-2x", "the $2x$ variant is crypt_blowfish's buggy bcrypt; rewriting it would lock users out"),
    ("bcrypt_sha256$", "bcrypt_sha256", "bcrypt of a SHA-256 pre-hash: WorkOS checks plain bcrypt"),
    ("$P$", "phpass", "phpass (WordPress) has no WorkOS type"),
    ("$H$", "phpass", "phpass (phpBB) has no WorkOS type"),
    ("$wp$", "wordpress-bcrypt", "WordPress 6.8 bcrypt of an HMAC pre-hash has no WorkOS type"),
    ("$1$", "md5-crypt", "md5-crypt has no WorkOS type"),
    ("$apr1$", "md5-crypt", "Apache md5-crypt has no WorkOS type"),
    ("$5$", "sha256-crypt", "sha256-crypt has no WorkOS type"),
    ("$6$", "sha512-crypt", "sha512-crypt has no WorkOS type"),
    ("sha1$", "django-sha1", "Django's salted SHA-1 puts the salt first; WorkOS's ssha puts it last"),
    ("md5$", "django-md5", "salted MD5 has no WorkOS type"),
    ("unsalted_md5$", "md5", "unsalted MD5 has no WorkOS type"),
    ("unsalted_sha1$", "sha1", "unsalted SHA-1 has no WorkOS type"),
    ("crypt$", "des-crypt", "DES crypt has no WorkOS type"),
    ("{SHA}", "sha1", "unsalted SHA-1 has no WorkOS type"),
    ("{MD5}", "md5", "unsalted MD5 has no WorkOS type"),
    ("{SMD5}", "md5", "salted MD5 has no WorkOS type"),
    ("{SSHA512}", "ssha512", "salted SHA-512 has no WorkOS type"),
    ("{CRYPT}", "crypt", "crypt(3) hashes have no WorkOS type"),
)

# Names sources give their algorithms (Clerk's password_hasher values, Keycloak's algorithm), by family.
_HINT_FAMILY = {
    "bcrypt": "bcrypt",
    "argon2": "argon2",
    "argon2i": "argon2",
    "argon2id": "argon2",
    "scrypt_firebase": "firebase-scrypt",
    "firebase-scrypt": "firebase-scrypt",
    "pbkdf2_sha256_django": "pbkdf2",
    "pbkdf2_sha1_django": "pbkdf2",
    "pbkdf2_sha256": "pbkdf2",
    "pbkdf2-sha256": "pbkdf2",
    "pbkdf2-sha512": "pbkdf2",
    "pbkdf2-sha1": "pbkdf2",
    "pbkdf2": "pbkdf2",
    "scrypt": "scrypt",
    "ldap_ssha": "ssha",
    "ssha": "ssha",
    "ssha256": "ssha256",
}
_HINT_NOT_IMPORTABLE = {
    "bcrypt_sha256_django": "bcrypt of a SHA-256 pre-hash: WorkOS checks plain bcrypt",
    "bcrypt_peppered": "bcrypt of the password plus a server-side pepper",
    "md5": "MD5 has no WorkOS type",
    "md5_salted": "salted MD5 has no WorkOS type",
    "md5_phpass": "phpass has no WorkOS type",
    "phpass": "phpass has no WorkOS type",
    "sha256": "unsalted SHA-256 has no WorkOS type",
    "sha256_salted": "salted SHA-256 in this layout has no WorkOS type",
    "sha512_symfony": "Symfony's SHA-512 has no WorkOS type",
    "scrypt_werkzeug": "Werkzeug's scrypt layout cannot be re-encoded without its parameters",
    "awscognito": "Cognito never exports hashes",
    "hmac-sha256": "an HMAC needs the server's key",
}


def unproven_warning(hash_type: str) -> str | None:
    """The plan's warning for a type whose string form WorkOS does not document; None for proven types."""
    if hash_type not in UNPROVEN:
        return None
    return f"{hash_type}: format not proven against WorkOS; check with a login canary first"


def b64decode(text: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not; None when it is not base64."""
    if not text or not _B64_TEXT.fullmatch(text):
        return None
    body = text.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _b64(data: bytes) -> str:
    """PHC's base64: standard alphabet, no padding."""
    return base64.b64encode(data).decode().rstrip("=")


def _refuse(algorithm: str, detail: str, reason: RefusalReason = RefusalReason.NOT_IMPORTABLE) -> Refusal:
    return Refusal(algorithm, reason, detail)


def _malformed(algorithm: str, detail: str) -> Refusal:
    return Refusal(algorithm, RefusalReason.MALFORMED, detail)


def argon2_phc(variant: str, version: int, memory: int, iterations: int, lanes: int, salt: bytes, digest: bytes) -> str:
    """The PHC string of an argon2 hash (``variant`` is ``id``, ``i`` or ``d``; ``version`` 19 for 1.3)."""
    return f"$argon2{variant}$v={version}$m={memory},t={iterations},p={lanes}${_b64(salt)}${_b64(digest)}"


def pbkdf2_phc(digest_name: str, iterations: int, salt: bytes, digest: bytes) -> Conversion:
    """The PHC string of a PBKDF2-HMAC hash (``digest_name`` sha1, sha256 or sha512), or a refusal."""
    if digest_name not in _DIGEST_BYTES:
        return _refuse(f"pbkdf2-{digest_name}", f"PBKDF2 with HMAC-{digest_name} has no WorkOS form")
    if iterations < 1 or not salt or not digest:
        return _malformed("pbkdf2", "the PBKDF2 hash has no iterations, salt or digest")
    value = f"$pbkdf2-{digest_name}$i={iterations},l={len(digest)}${_b64(salt)}${_b64(digest)}"
    return ImportHash("pbkdf2", value)


def _scrypt_phc(n: int, r: int, p: int, salt: bytes, digest: bytes) -> Conversion:
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or not salt or not digest:
        return _malformed("scrypt", "the scrypt parameters are not a power-of-two N with positive r and p")
    return ImportHash("scrypt", f"$scrypt$ln={n.bit_length() - 1},r={r},p={p}${_b64(salt)}${_b64(digest)}")


def firebase_scrypt(hash_b64: str, salt_b64: str, params: FirebaseParams | None) -> Conversion:
    """WorkOS's firebase-scrypt string from a user's ``passwordHash`` and ``salt`` and the project parameters.

    URL-safe base64 is read too; the output is standard base64 without ``=`` padding (WorkOS's docs).
    """
    if params is None:
        return _refuse(
            "firebase-scrypt",
            "the project's hash parameters were not given (--hash-config)",
            RefusalReason.PARAMS_MISSING,
        )
    digest, salt = b64decode(hash_b64), b64decode(salt_b64)
    if not digest or not salt:
        return _malformed("firebase-scrypt", "passwordHash or salt is not base64")
    value = (
        f"$firebase-scrypt$hash={_b64(digest)}$salt={_b64(salt)}$sk={_b64(params.signer_key)}"
        f"$ss={_b64(params.salt_separator)}$r={params.rounds}$m={params.mem_cost}"
    )
    return ImportHash("firebase-scrypt", value)


def keycloak_password(secret_data: dict[str, Any], credential_data: dict[str, Any]) -> Conversion:
    """A Keycloak password credential (its parsed ``secretData`` and ``credentialData``) as WorkOS's hash."""
    algorithm = str(credential_data.get("algorithm") or "pbkdf2-sha256").lower()
    digest, salt = b64decode(str(secret_data.get("value") or "")), b64decode(str(secret_data.get("salt") or ""))
    iterations = credential_data.get("hashIterations")
    if not digest or not salt or not isinstance(iterations, int):
        return _malformed(algorithm, "the credential lacks a base64 value, salt or hashIterations")
    if algorithm in ("pbkdf2", "pbkdf2-sha1", "pbkdf2-sha256", "pbkdf2-sha512"):
        name = algorithm.removeprefix("pbkdf2").removeprefix("-") or "sha1"
        return pbkdf2_phc(name, iterations, salt, digest)
    if algorithm != "argon2":
        return _refuse(algorithm, f"Keycloak's {algorithm!r} hash provider has no WorkOS type")
    extra = {key: value[0] if isinstance(value, list) and value else value
             for key, value in (credential_data.get("additionalParameters") or {}).items()}  # fmt: skip
    variant = str(extra.get("type", "id"))
    version = {"1.3": 19, "1.0": 16}.get(str(extra.get("version", "1.3")))
    try:
        memory, lanes = int(extra.get("memory", 7168)), int(extra.get("parallelism", 1))
    except (TypeError, ValueError):
        return _malformed("argon2", "the argon2 memory or parallelism is not a number")
    if variant not in ("id", "i", "d") or version is None:
        return _malformed("argon2", "the argon2 type or version is not one Keycloak writes")
    return ImportHash("argon2", argon2_phc(variant, version, memory, iterations, lanes, salt, digest))


def _firebase_phc(value: str) -> Conversion:
    parts = dict(part.partition("=")[::2] for part in value[len("$firebase-scrypt$") :].split("$"))
    if set(parts) != {"hash", "salt", "sk", "ss", "r", "m"} or not (parts["r"].isdigit() and parts["m"].isdigit()):
        return _malformed("firebase-scrypt", "the firebase-scrypt string lacks hash, salt, sk, ss, r or m")
    signer, separator = b64decode(parts["sk"]), b64decode(parts["ss"])
    if signer is None or separator is None:
        return _malformed("firebase-scrypt", "sk or ss is not base64")
    params = FirebaseParams(signer, separator, int(parts["r"]), int(parts["m"]))
    return firebase_scrypt(parts["hash"], parts["salt"], params)


def _supabase_fbscrypt(value: str, params: FirebaseParams | None) -> Conversion:
    """Supabase's ``$fbscrypt$v=1,n=N,r=R,p=P[,ss=..][,sk=..]$salt$hash`` as firebase-scrypt."""
    match = _FBSCRYPT(value)
    if match is None:
        return _malformed("fbscrypt", "the $fbscrypt$ string does not parse")
    options = dict(item.partition("=")[::2] for item in match.group(1).split(",") if item)
    try:
        n, rounds, lanes = int(options["n"]), int(options["r"]), int(options.get("p", "1"))
    except (KeyError, ValueError):
        return _malformed("fbscrypt", "the $fbscrypt$ string lacks n or r")
    if n < 2 or n & (n - 1) or lanes != 1:
        return _malformed("fbscrypt", "firebase scrypt needs a power-of-two n and p=1")
    signer = b64decode(options["sk"]) if options.get("sk") else (params.signer_key if params else None)
    separator = b64decode(options["ss"]) if "ss" in options else (params.salt_separator if params else None)
    if signer is None or separator is None:
        detail = "the signer key and salt separator are in neither the hash nor --hash-config"
        return _refuse("firebase-scrypt", detail, RefusalReason.PARAMS_MISSING)
    params = FirebaseParams(signer, separator, rounds, n.bit_length() - 1)
    return firebase_scrypt(match.group(3), match.group(2), params)


def _argon2(value: str) -> Conversion:
    match = _ARGON2(value)
    if match is None:
        return _malformed("argon2", "the argon2 string is not a PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash)")
    variant, version, memory, iterations, lanes, salt, digest = match.groups()
    salt_bytes, digest_bytes = b64decode(salt), b64decode(digest)
    if not salt_bytes or not digest_bytes:
        return _malformed("argon2", "the argon2 salt or hash is not base64")
    # An argon2 string without v= is version 1.0 (0x10) by the PHC rules.
    phc = argon2_phc(variant, int(version or 16), int(memory), int(iterations), int(lanes), salt_bytes, digest_bytes)
    return ImportHash("argon2", phc)


def _phc_scrypt(value: str) -> Conversion:
    match = _SCRYPT(value)
    if match is None:
        return _malformed("scrypt", "the scrypt string is not a PHC string ($scrypt$ln=..,r=..,p=..$salt$hash)")
    ln, r, p, salt, digest = match.groups()
    salt_bytes, digest_bytes = b64decode(salt), b64decode(digest)
    if not salt_bytes or not digest_bytes or not 1 <= int(ln) < 64:
        return _malformed("scrypt", "the scrypt salt, hash or ln is unusable")
    return _scrypt_phc(1 << int(ln), int(r), int(p), salt_bytes, digest_bytes)


def _phc_pbkdf2(value: str) -> Conversion:
    match = _PBKDF2(value)
    if match is None:
        passlib = _PASSLIB_PBKDF2(value)
        if passlib is None:
            return _malformed("pbkdf2", "the pbkdf2 string is not a PHC string ($pbkdf2-sha256$i=..,l=..$salt$hash)")
        name, rounds, salt, digest = passlib.groups()
        salt_bytes, digest_bytes = b64decode(salt.replace(".", "+")), b64decode(digest.replace(".", "+"))
        if not salt_bytes or not digest_bytes:
            return _malformed("pbkdf2", "the passlib pbkdf2 salt or hash is not base64")
        return pbkdf2_phc(name or "sha1", int(rounds), salt_bytes, digest_bytes)
    name, iterations, length, salt, digest = match.groups()
    salt_bytes, digest_bytes = b64decode(salt), b64decode(digest)
    if not salt_bytes or not digest_bytes or (length and int(length) != len(digest_bytes)):
        return _malformed("pbkdf2", "the pbkdf2 salt or hash is not base64, or l= disagrees with the hash")
    return pbkdf2_phc(name, int(iterations), salt_bytes, digest_bytes)


def _django_pbkdf2(value: str, *, salt_is_base64: bool) -> Conversion:
    """Django's ``pbkdf2_sha256$iterations$salt$b64hash`` (the salt is text, used as its bytes)."""
    algorithm, iterations, salt, digest = value.split("$", 3)
    name = algorithm.removeprefix("pbkdf2_")
    digest_bytes = b64decode(digest)
    salt_bytes = b64decode(salt) if salt_is_base64 else salt.encode()
    if not iterations.isdigit() or not digest_bytes or not salt_bytes:
        return _malformed(algorithm, "the hash is not iterations$salt$base64-hash")
    return pbkdf2_phc(name, int(iterations), salt_bytes, digest_bytes)


def _django_scrypt(value: str) -> Conversion:
    """Django's ``scrypt$n$salt$r$p$b64hash``."""
    parts = value.split("$")
    if len(parts) != 6 or not all(part.isdigit() for part in (parts[1], parts[3], parts[4])):
        return _malformed("scrypt", "the Django scrypt hash is not scrypt$n$salt$r$p$hash")
    digest = b64decode(parts[5])
    if not digest or not parts[2]:
        return _malformed("scrypt", "the Django scrypt salt or hash is empty or not base64")
    return _scrypt_phc(int(parts[1]), int(parts[3]), int(parts[4]), parts[2].encode(), digest)


def _clerk_firebase(value: str) -> Conversion:
    """Clerk's ``scrypt_firebase`` digest: ``hash$salt$signer_key$salt_separator$rounds$mem_cost``."""
    parts = value.split("$")
    if len(parts) != 6 or not (parts[4].isdigit() and parts[5].isdigit()):
        return _malformed("scrypt_firebase", "the digest is not hash$salt$sk$ss$rounds$mem_cost")
    signer, separator = b64decode(parts[2]), b64decode(parts[3])
    if signer is None or separator is None:
        return _malformed("scrypt_firebase", "the signer key or salt separator is not base64")
    return firebase_scrypt(parts[0], parts[1], FirebaseParams(signer, separator, int(parts[4]), int(parts[5])))


def _ssha(kind: str, body: str) -> Conversion:
    hash_type = kind.lower()
    size = 20 if hash_type == "ssha" else 32
    blob = b64decode(body)
    if blob is None or len(blob) <= size:
        return _malformed(hash_type, f"the {hash_type} value is not base64 of a digest followed by a salt")
    prefix = "{SSHA}" if hash_type == "ssha" else "{SSHA256}"
    # LDAP's {SSHA}/{SSHA256}: digest of password then salt, i.e. WorkOS's "suffix" position.
    return ImportHash(hash_type, prefix + base64.b64encode(blob).decode(), None if hash_type == "ssha" else "suffix")


def _detect(value: str, params: FirebaseParams | None) -> Conversion:
    if value.startswith(("$2a$", "$2b$", "$2y$")):
        if not _BCRYPT(value):
            return _malformed("bcrypt", "the bcrypt hash is not $2b$, a two-digit cost and 53 characters")
        return ImportHash("bcrypt", "$2b$" + value[4:] if value.startswith("$2y$") else value)
    if value.startswith("$argon2"):
        return _argon2(value)
    if value.startswith("argon2$argon2"):
        return _argon2(value[len("argon2") :])
    if value.startswith("bcrypt$$2"):
        return _detect(value[len("bcrypt$") :], params)
    if value.startswith("$firebase-scrypt$"):
        return _firebase_phc(value)
    if value.startswith("$fbscrypt$"):
        return _supabase_fbscrypt(value, params)
    if value.startswith("$scrypt$"):
        return _phc_scrypt(value)
    if value.startswith("$pbkdf2"):
        return _phc_pbkdf2(value)
    if value.startswith(("pbkdf2_sha256$", "pbkdf2_sha1$")) and value.count("$") == 3:
        return _django_pbkdf2(value, salt_is_base64=False)
    if value.startswith("scrypt$"):
        return _django_scrypt(value)
    if ssha := _SSHA(value):
        return _ssha(ssha.group(1), ssha.group(2))
    for prefix, algorithm, detail in _NOT_IMPORTABLE_PREFIXES:
        if value.startswith(prefix):
            return _refuse(algorithm, detail)
    if len(value) in _HEX_NAMES and _HEX(value):
        name = _HEX_NAMES[len(value)]
        return _refuse(name, f"an unsalted {name} digest has no WorkOS type")
    return _refuse("unknown", "the hash matches no known layout (it is not guessed)", RefusalReason.UNRECOGNISED)


def _family(conversion: Conversion) -> str:
    return conversion.hash_type if isinstance(conversion, ImportHash) else conversion.algorithm


def convert(value: str, *, hint: str | None = None, firebase: FirebaseParams | None = None) -> Conversion:
    """The WorkOS import form of one hash, or why it has none.

    ``hint`` is the source's own name for the algorithm (Clerk's ``password_hasher``, Keycloak's
    ``algorithm``); when it names an algorithm WorkOS lacks the hash is refused, and when the value does
    not match the algorithm it names, it is malformed. ``firebase`` supplies the project parameters
    that Firebase and Supabase's ``$fbscrypt$`` hashes need.
    """
    value = value.strip()
    name = (hint or "").strip().lower()
    if name in _HINT_NOT_IMPORTABLE:
        return _refuse(name, _HINT_NOT_IMPORTABLE[name])
    if not value:
        return _malformed(name or "unknown", "the hash is empty")
    if name == "scrypt_firebase" and not value.startswith("$"):
        return _clerk_firebase(value)
    if name == "pbkdf2_sha256" and value.startswith("pbkdf2_sha256$") and value.count("$") == 3:
        return _django_pbkdf2(value, salt_is_base64=True)
    conversion = _detect(value, firebase)
    if name and name not in _HINT_FAMILY:
        return _refuse(name, f"the source's algorithm {name!r} has no WorkOS type", RefusalReason.UNRECOGNISED)
    if name and isinstance(conversion, ImportHash) and _family(conversion) != _HINT_FAMILY[name]:
        return _malformed(name, f"the hash does not have the layout of {name}")
    return conversion


def check(hash_type: str, value: str) -> str | None:
    """Why ``value`` is not a WorkOS ``hash_type`` string (a sentence without the value), or None when it is."""
    if hash_type == "bcrypt":
        return None if _BCRYPT(value) else "the bcrypt hash does not parse ($2a$/$2b$/$2y$, cost, 53 characters)"
    parsers = {
        "firebase-scrypt": ("$firebase-scrypt$", _firebase_phc),
        "argon2": ("$argon2", _argon2),
        "scrypt": ("$scrypt$", _phc_scrypt),
        "pbkdf2": ("$pbkdf2-", _phc_pbkdf2),
    }
    if hash_type in parsers:
        prefix, parse = parsers[hash_type]
        conversion = parse(value) if value.startswith(prefix) else None
    elif hash_type in ("ssha", "ssha256"):
        ssha = _SSHA(value)
        conversion = _ssha(ssha.group(1), ssha.group(2)) if ssha else None
        if isinstance(conversion, ImportHash) and conversion.hash_type != hash_type:
            conversion = None
    else:
        return f"{hash_type[:20]!r} is not a WorkOS hash type"
    if isinstance(conversion, ImportHash):
        return None
    if isinstance(conversion, Refusal):
        return conversion.detail
    return f"the {hash_type} hash does not parse ({_FORMS[hash_type]})"


_FORMS = {
    "firebase-scrypt": "$firebase-scrypt$hash=..$salt=..$sk=..$ss=..$r=..$m=..",
    "argon2": "$argon2id$v=19$m=..,t=..,p=..$salt$hash",
    "scrypt": "$scrypt$ln=..,r=..,p=..$salt$hash",
    "pbkdf2": "$pbkdf2-sha256$i=..,l=..$salt$hash",
    "ssha": "{SSHA} and base64 of the SHA-1 digest then the salt",
    "ssha256": "{SSHA256} and base64 of the SHA-256 digest then the salt",
}


_CONFIG_KEYS = {
    "base64_signer_key": "signer_key",
    "signer_key": "signer_key",
    "base64_salt_separator": "salt_separator",
    "salt_separator": "salt_separator",
    "rounds": "rounds",
    "mem_cost": "mem_cost",
}
_CONFIG_LINE = re.compile(r"""^\s*"?([A-Za-z0-9_]+)"?\s*[:=]\s*"?([^",}\s]*)"?\s*,?\s*$""")


def parse_firebase_params(text: str) -> FirebaseParams:
    """The project parameters from the console's ``hash_config { ... }`` block as pasted, or the same keys as JSON.

    Raises ``OptionsError`` naming the missing or unusable key (never quoting the signer key).
    """
    values: dict[str, str] = {}
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            loaded = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise OptionsError(f"--hash-config: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        block = loaded.get("hash_config", loaded) if isinstance(loaded, dict) else None
        if not isinstance(block, dict):
            raise OptionsError("--hash-config: the JSON is not an object of hash parameters")
        values = {str(key): str(item) for key, item in block.items()}
    else:
        for line in stripped.replace("{", "\n").replace("}", "\n").splitlines():
            match = _CONFIG_LINE.match(line)
            if match:
                values[match.group(1)] = match.group(2)
    found = {_CONFIG_KEYS[key]: item for key, item in values.items() if key in _CONFIG_KEYS}
    algorithm = values.get("algorithm", "SCRYPT").upper()
    problems = []
    if algorithm != "SCRYPT":
        problems.append(f"algorithm is {algorithm[:20]!r}: only Firebase's SCRYPT has a WorkOS type")
    signer = b64decode(found.get("signer_key", ""))
    separator = b64decode(found["salt_separator"]) if found.get("salt_separator") else None
    if signer is None:
        problems.append("base64_signer_key is missing or not base64")
    if separator is None:
        problems.append("base64_salt_separator is missing or not base64")
    rounds, mem_cost = found.get("rounds", ""), found.get("mem_cost", "")
    if not (rounds.isdigit() and 1 <= int(rounds) <= 8):
        problems.append("rounds is missing or not 1-8")
    if not (mem_cost.isdigit() and 1 <= int(mem_cost) <= 14):
        problems.append("mem_cost is missing or not 1-14")
    if problems or signer is None or separator is None:
        raise OptionsError("--hash-config: " + "; ".join(problems))
    return FirebaseParams(signer, separator, int(rounds), int(mem_cost))
