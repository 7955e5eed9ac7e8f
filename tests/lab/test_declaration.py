from pathlib import Path

import pytest

from flexbench.lab.declaration import DeclarationError, load_pcs_declaration, require_mode

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "testplans/declarations/virtual-pcs.toml"


def test_shipped_declaration_loads():
    d = load_pcs_declaration(SHIPPED)
    assert d.export_limit_w == 3000.0 and d.open_loop_response_time_s == 5.0
    assert "no-exchange" in d.modes
    assert d.max_busbar_current_a == pytest.approx(15000 / 720)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("export_limit_w = 3000.0", "export_limit_w = 16000.0", "[settings] export_limit_w"),
        ("import_limit_w = 3000.0", "import_limit_w = 20000.0", "[settings] import_limit_w"),
        ("current_limit_a = 18.0", "current_limit_a = 40.0", "[settings] current_limit_a"),
        ('"no-exchange"]', '"zero-exchange"]', "unknown mode 'zero-exchange'"),
        ("fail_safe_time_s = 10.0\n", "", "[declared] fail_safe_time_s: missing"),
        ("phases = 3", "phases = 2", "[ratings] phases"),
        ("export_accuracy_w = 250.0", 'export_accuracy_w = "small"', "expected a number"),
        ("serial = ", "serial_no = ", "[device] serial_no: unknown field"),
    ],
)
def test_bad_declaration_names_file_and_field(tmp_path, old, new, message):
    text = SHIPPED.read_text()
    assert old in text
    path = tmp_path / "d.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(DeclarationError) as err:
        load_pcs_declaration(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_a_plan_needing_an_undeclared_mode_is_told_so(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text(SHIPPED.read_text().replace('"export-only", ', ""))
    d = load_pcs_declaration(path)
    with pytest.raises(DeclarationError, match="export-only"):
        require_mode(d, "export-only")
