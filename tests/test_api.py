"""The public API is deliberate: it equals the committed snapshot, and the snapshot's digest is
recorded in CHANGELOG.md, so that changing the API means updating both together."""

import difflib
import hashlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.nokernel  # never steps a system: one tox environment is enough

REPO = Path(__file__).resolve().parents[1]


def test_public_api_equals_the_committed_snapshot(api_snapshot):
    now, committed = api_snapshot.snapshot(), api_snapshot.SNAPSHOT.read_text()
    diff = "".join(difflib.unified_diff(committed.splitlines(True), now.splitlines(True), "committed", "now"))
    assert now == committed, (
        "the public API changed; if that is deliberate run `python tests/api_snapshot.py --write`, "
        f"add a CHANGELOG.md entry and the new digest line it asks for:\n{diff}"
    )


def test_changelog_records_the_snapshot_digest(api_snapshot):
    digest = hashlib.sha256(api_snapshot.SNAPSHOT.read_bytes()).hexdigest()[:16]
    assert f"api-snapshot: {digest}" in (REPO / "CHANGELOG.md").read_text(), (
        f"CHANGELOG.md must record the API snapshot it describes: add the line `api-snapshot: {digest}` "
        "to the entry that explains the change"
    )
