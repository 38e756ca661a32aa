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
    # seed 000 billing comparison
    assert "standalone total                     $120.00" in out
    assert "pooled: 16,000 in the 18,000          $90.00" in out
    assert "saving with pooled billing            $30.00" in out


def test_demo_can_run_twice_on_the_same_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "d.db")
    assert main(["demo", "--db", db]) == 0
    first = capsys.readouterr().out
    assert main(["demo", "--db", db]) == 0
    assert capsys.readouterr().out == first


def test_console_script_entry_point_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "subacct.cli", "demo", "--db", str(tmp_path / "e.db")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Sub-accounts of agencydemo: agency1, agency2" in result.stdout
