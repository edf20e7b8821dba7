"""Source adapters: a provider's own export in, the canonical CSV (docs/csv-format.md) out.

One module per provider reads its files and yields ``SourceUser``s (``read(inputs, spill, warnings)``);
``convert`` decides each user's outcome and writes the CSV, the reset list and the report. Hashes go
through the one registry, ``core.hashes``. docs/sources.md documents each provider.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path

from core import hashes
from core.errors import OptionsError
from core.hashes import FirebaseParams
from core.sources import auth0, clerk, cognito, django, firebase, keycloak, supabase
from core.sources.convert import ConvertOptions, ConvertReport, DisabledPolicy, convert_users, parse_role_map
from core.sources.model import SourceInputs, SourceUser
from core.sources.spill import Spill

__all__ = [
    "ADAPTERS",
    "ConvertOptions",
    "ConvertReport",
    "DisabledPolicy",
    "Source",
    "SourceInputs",
    "convert_export",
    "load_hash_config",
    "parse_role_map",
]


class Source(StrEnum):
    AUTH0 = "auth0"
    FIREBASE = "firebase"
    CLERK = "clerk"
    COGNITO = "cognito"
    SUPABASE = "supabase"
    KEYCLOAK = "keycloak"
    DJANGO = "django"


Adapter = Callable[[SourceInputs, Spill, list[str]], Iterator[SourceUser]]
ADAPTERS: dict[Source, Adapter] = {
    Source.AUTH0: auth0.read,
    Source.FIREBASE: firebase.read,
    Source.CLERK: clerk.read,
    Source.COGNITO: cognito.read,
    Source.SUPABASE: supabase.read,
    Source.KEYCLOAK: keycloak.read,
    Source.DJANGO: django.read,
}

# Which optional inputs each source reads; any other given is a mistake worth refusing.
_ACCEPTS: dict[Source, frozenset[str]] = {
    Source.AUTH0: frozenset({"passwords", "org_members", "org_attribute", "role_attribute"}),
    Source.FIREBASE: frozenset({"hash_config", "org_attribute", "role_attribute"}),
    Source.CLERK: frozenset({"memberships"}),
    Source.COGNITO: frozenset({"groups", "org_attribute"}),
    Source.SUPABASE: frozenset({"identities", "mfa_factors", "hash_config", "org_attribute", "role_attribute"}),
    Source.KEYCLOAK: frozenset(),
    Source.DJANGO: frozenset(),
}
_FLAGS = {
    "passwords": "--passwords",
    "hash_config": "--hash-config",
    "org_members": "--org-members",
    "memberships": "--memberships",
    "groups": "--groups",
    "identities": "--identities",
    "mfa_factors": "--mfa-factors",
    "org_attribute": "--org-attribute",
    "role_attribute": "--role-attribute",
}


def load_hash_config(path: Path) -> FirebaseParams:
    """Firebase's project hash parameters from a file (the console's block as pasted, or JSON)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionsError(f"--hash-config {path}: cannot be read ({exc})") from exc
    return hashes.parse_firebase_params(text)


def check_inputs(source: Source, inputs: SourceInputs, options: ConvertOptions) -> None:
    """Raise ``OptionsError`` listing every input the source does not read, missing file and clashing path."""
    problems = [
        f"{_FLAGS[name]} does not apply to {source.value} (it reads: "
        + (", ".join(_FLAGS[flag] for flag in sorted(_ACCEPTS[source])) or "only --users")
        + ")"
        for name in _FLAGS
        if getattr(inputs, name) is not None and name not in _ACCEPTS[source]
    ]
    if not inputs.users:
        problems.append("--users: give the export file(s)")
    side = [inputs.passwords, inputs.org_members, inputs.memberships, inputs.groups, inputs.identities]
    side.append(inputs.mfa_factors)
    files = [*inputs.users, *(path for path in side if path is not None)]
    problems.extend(f"{path}: no such file" for path in files if not path.exists())
    outputs = [path for path in (options.out, options.report, options.reset_list) if path is not None]
    read = {path.resolve() for path in files}
    problems.extend(f"{path}: is also an input; choose another output" for path in outputs if path.resolve() in read)
    if len({path.resolve() for path in outputs}) != len(outputs):
        problems.append("--out, --report and --reset-list must be different files")
    if problems:
        raise OptionsError(problems)


def convert_export(source: Source, inputs: SourceInputs, options: ConvertOptions) -> ConvertReport:
    """Convert one provider's export to the canonical CSV (see ``core.sources.convert``)."""
    check_inputs(source, inputs, options)
    warnings: list[str] = []
    with Spill() as spill:
        report = convert_users(source.value, ADAPTERS[source](inputs, spill, warnings), options, spill, warnings)
    return report
