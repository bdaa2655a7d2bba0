"""training/data_speed.py: the data pipeline benchmark runs on every task's dataset."""
from rhd_tiny import rhd_root_fixture  # noqa: F401  (the rhd_root fixture)

from training import data_speed


def test_measure_every_task(rhd_root, capsys):
    assert data_speed.main(["--data", str(rhd_root), "--workers", "0", "--batches", "1", "--batch-size", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["handsegnet", "posenet", "lifting"]
    assert all(float(ln.split()[-2]) > 0 for ln in lines)


def test_missing_data_is_a_one_line_error(tmp_path, capsys):
    assert data_speed.main(["--data", str(tmp_path), "--task", "lifting", "--workers", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
