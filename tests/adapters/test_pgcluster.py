from pathlib import Path

import pytest

from subacct.testing.pgcluster import ClusterUnavailable, TempCluster, find_bindir


def test_missing_server_fails_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PG_BINDIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ClusterUnavailable, match="apt-get install postgresql"):
        find_bindir(debian_root=str(tmp_path / "none"))


def test_cluster_answers_on_loopback(pg_cluster: TempCluster) -> None:
    import psycopg

    with psycopg.connect(pg_cluster.conninfo()) as conn:
        row = conn.execute("SELECT inet_server_addr()::text, current_setting('port')").fetchone()
    assert row is not None
    assert row[0].startswith("127.0.0.1")
    assert int(row[1]) == pg_cluster.port
