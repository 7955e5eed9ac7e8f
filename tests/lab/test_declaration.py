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
    "old, new, line, message",
    [
        ("export_limit_w = 3000.0", "export_limit_w = 16000.0", 22, "settings.export_limit_w: 16000 W is above"),
        ("import_limit_w = 3000.0", "import_limit_w = 20000.0", 23, "settings.import_limit_w: 20000 W is above"),
        ("current_limit_a = 18.0", "current_limit_a = 40.0", 24, "settings.current_limit_a: 40 A is above"),
        ('"no-exchange"]', '"zero-exchange"]', 19, "modes.supported: unknown mode 'zero-exchange'"),
        ("fail_safe_time_s = 10.0\n", "", 26, "declared.fail_safe_time_s: missing"),
        ("phases = 3", "phases = 2", 16, "ratings.phases: expected 1 or 3, got 2"),
        ("phases = 3", "phases = 3.0", 16, "ratings.phases: expected an integer, got a number 3.0"),
        ("export_accuracy_w = 250.0", 'export_accuracy_w = "small"', 28, "expected a number, got a string 'small'"),
        ("fail_safe_time_s = 10.0", "fail_safe_time_s = true", 31, "declared.fail_safe_time_s: expected a number"),
        ("fail_safe_time_s = 10.0", "fail_safe_time_s = -1", 31, "declared.fail_safe_time_s: must be >= 0, got -1"),
        ("serial = ", "serial_no = ", 8, "device.serial_no: unknown key (did you mean 'serial'?)"),
        ("[modes]", "[mode]", 18, "mode: unknown key (did you mean 'modes'?)"),
        ("supported = [", "supported = [] #", 19, "modes.supported: must not be empty"),
    ],
)
def test_bad_declaration_is_one_line_naming_file_line_and_key(tmp_path, old, new, line, message):
    text = SHIPPED.read_text()
    assert old in text
    path = tmp_path / "d.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(DeclarationError) as err:
        load_pcs_declaration(path)
    assert len(str(err.value).splitlines()) == 1
    assert str(err.value).startswith(f"{path}:{line}: ") and message in str(err.value)


def test_a_plan_needing_an_undeclared_mode_is_told_so(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text(SHIPPED.read_text().replace('"export-only", ', ""))
    d = load_pcs_declaration(path)
    with pytest.raises(DeclarationError, match="export-only"):
        require_mode(d, "export-only")
