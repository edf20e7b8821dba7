"""Converting a large Auth0 export: rows per second and peak memory at two sizes (flat memory = same peak).

Generates an Auth0 bulk export (NDJSON, gzipped) with its password export (one bcrypt-shaped hash per
database user, cycled from a few real ones: the registry only re-encodes, it never hashes), a social user
sharing an email every 50 users, a blocked one every 100, and organization members for every tenth user.
Each size is converted in a fresh child process, which reports its wall time and peak RSS.

    .venv/bin/python bench/convert_bench.py                 # 100,000 and 1,000,000 users
    .venv/bin/python bench/convert_bench.py --sizes 20000 200000
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bcrypt
import orjson

_HASHES = [bcrypt.hashpw(f"password-{i}".encode(), bcrypt.gensalt(4)).decode() for i in range(16)]


def generate(directory: Path, users: int) -> None:
    """Write users.ndjson.gz, passwords.ndjson and org_members.ndjson for ``users`` users."""
    identities = [{"connection": "Username-Password-Authentication", "provider": "auth0", "isSocial": False}]
    social = [{"connection": "google-oauth2", "provider": "google-oauth2", "isSocial": True}]
    with (
        gzip.open(directory / "users.ndjson.gz", "wb", compresslevel=1) as out,
        (directory / "passwords.ndjson").open("wb") as passwords,
        (directory / "org_members.ndjson").open("wb") as members,
    ):
        page: list[dict[str, object]] = []
        for index in range(users):
            oid = f"{index:024x}"
            if index % 50 == 49:
                user = {
                    "user_id": f"google-oauth2|{index}",
                    "email": f"user{index - 1}@example.com",
                    "identities": social,
                }
            else:
                user = {
                    "user_id": f"auth0|{oid}",
                    "email": f"User{index}@Example.com",
                    "email_verified": index % 3 != 0,
                    "given_name": "Given",
                    "family_name": f"Family{index}",
                    "identities": identities,
                    "app_metadata": {"roles": ["member"], "tenant_id": f"t{index % 100}"},
                    "user_metadata": {"locale": "en-GB"},
                    "created_at": "2024-03-13T15:02:11.123Z",
                    "blocked": index % 100 == 7,
                }
                passwords.write(orjson.dumps({"_id": {"$oid": oid}, "passwordHash": _HASHES[index % 16]}) + b"\n")
                if index % 10 == 0:
                    page.append({"user_id": f"auth0|{oid}", "roles": [{"name": "member"}]})
            out.write(orjson.dumps(user) + b"\n")
            if len(page) == 100:
                organization = {"id": f"org_{index // 1000}", "name": f"org-{index // 1000}"}
                members.write(orjson.dumps({"organization": organization, "members": page}) + b"\n")
                page = []
        if page:
            members.write(orjson.dumps({"organization": {"id": "org_last", "name": "last"}, "members": page}) + b"\n")


def child(directory: Path) -> None:
    from core.sources import ConvertOptions, Source, SourceInputs, convert_export

    inputs = SourceInputs(
        users=[directory / "users.ndjson.gz"],
        passwords=directory / "passwords.ndjson",
        org_members=directory / "org_members.ndjson",
        org_attribute="tenant_id",
    )
    options = ConvertOptions(
        out=directory / "users.csv", report=directory / "report.json", reset_list=directory / "reset.csv"
    )
    started = time.perf_counter()
    report = convert_export(Source.AUTH0, inputs, options)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "report": report.model_dump(mode="json")}))


def measure(users: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        started = time.perf_counter()
        generate(directory, users)
        generated = time.perf_counter() - started
        size = sum(path.stat().st_size for path in directory.iterdir()) / 2**20
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(directory)], capture_output=True, text=True, check=True
        )
        result = json.loads(done.stdout)
        report = result["report"]
        assert report["converted"] + report["reset"] + report["skipped"] == report["input_users"] == users
        out_mib = (directory / "users.csv").stat().st_size / 2**20
    return {
        "users": users,
        "input_mib": round(size, 1),
        "csv_mib": round(out_mib, 1),
        "generate_s": round(generated, 1),
        "convert_s": round(result["seconds"], 1),
        "users_per_s": round(users / result["seconds"]),
        "rows": report["rows"],
        "peak_rss_mib": round(result["peak_rss_mib"], 1),
        "converted": report["converted"],
        "reset": report["reset"],
        "skipped": report["skipped"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    results = [measure(size) for size in args.sizes]
    for result in results:
        print(json.dumps(result))
    if len(results) > 1:
        ratio = results[-1]["peak_rss_mib"] / results[0]["peak_rss_mib"]
        scale = results[-1]["users"] / results[0]["users"]
        print(f"peak RSS x{ratio:.2f} for x{scale:.0f} users")


if __name__ == "__main__":
    main()
