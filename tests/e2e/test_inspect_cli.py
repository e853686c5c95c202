"""`labmatch inspect` on every public list: the data team's first look."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

LABMATCH = Path(sys.executable).parent / "labmatch"

# (file, kind, CSV column or None for the first field of each line)
LISTS = [
    ("tor_exit_nodes.txt", "ip", None),
    ("tor_relays_all.txt", "ip", None),
    ("ip_blocklist_ipsum.tsv", "ip", None),
    ("vpn_cidr_ipv4.txt", "cidr", None),
    ("vpn_cidr_ipv6.txt", "cidr", None),
    ("disposable_email_domains.txt", "domain", None),
    ("ofac_digital_currency_addresses.csv", "wallet", "address"),
    ("ofac_sdn_entities.csv", "org", "sdn_name"),
    ("sec_company_names.csv", "org", "name"),
]


def values(path: Path, column: str | None) -> list[str]:
    if column is not None:
        with open(path, newline="", encoding="utf-8") as f:
            return [row[column] for row in csv.DictReader(f)]
    return [line.split()[0] for line in
            path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("name,kind,column", LISTS,
                         ids=[entry[0] for entry in LISTS])
def test_inspect_reads_every_row_of_public_list(public_data, tmp_path,
                                                name, kind, column):
    """Every row is read and accounted for, and no value is shown."""
    rows = values(public_data / name, column)
    path = tmp_path / "input.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", "value"])
        writer.writerows([kind, value] for value in rows)

    result = subprocess.run([str(LABMATCH), "inspect", "--input", str(path)],
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr[-2000:]
    report = result.stdout
    assert f"rows read: {len(rows)}" in report
    canonical = int(report.split("rows canonical: ")[1].split()[0])
    refused = int(report.split("rows refused: ")[1].split()[0])
    assert canonical + refused == len(rows)
    shown = [v for v in rows[:50] if len(v) >= 8 and v in report]
    assert not shown
