import subprocess
import sys
from pathlib import Path

import pytest

from subacct.cli import main


def test_demo_prints_the_seed000_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--db", str(tmp_path / "d.db")]) == 0
    out = capsys.readouterr().out
    assert "agencydemo  Agency Demo  [master, active]" in out
    assert "|-- agency1  Company X  [sub, active]" in out
    assert "`-- agency2  Company Y  [sub, active]" in out
    assert "parent_admin" in out
    assert (tmp_path / "d.db").exists()
    # seed 004 decisions with their reasons
    assert "denied  u_xadmin            messages.send     in agency2    no_membership" in out
    assert (
        "allowed u_xbasic            reports.view      in agency1    allowed_by_role (scope own)"
        in out
    )
    # subs cannot see each other (seed 000)
    assert "Siblings of agency1, as its administrator sees them: none" in out
    # seed 000 billing comparison
    assert "standalone total                     $120.00" in out
    assert "pooled: 16,000 in the 18,000          $90.00" in out
    assert "saving with pooled billing            $30.00" in out


def test_demo_refuses_a_database_that_holds_accounts_and_leaves_it_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "d.db"
    assert main(["demo", "--db", str(db)]) == 0
    capsys.readouterr()
    before = db.read_bytes()
    assert main(["demo", "--db", str(db)]) == 2
    assert "already holds accounts" in capsys.readouterr().err
    assert db.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a database at all, just text" * 10, "not a SQLite database")],
)
def test_demo_refuses_a_file_that_is_not_its_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    db = tmp_path / "other.db"
    db.write_bytes(content)
    assert main(["demo", "--db", str(db)]) == 2
    assert message in capsys.readouterr().err
    assert db.read_bytes() == content


def test_help_describes_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "commands:" in out
    assert "demo" in out
    assert ">>>" not in out  # no doctest


def test_console_script_entry_point_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "subacct.cli", "demo", "--db", str(tmp_path / "e.db")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Sub-accounts of agencydemo: agency1, agency2" in result.stdout
