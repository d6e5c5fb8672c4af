"""The config file's [espforge] section fills in global options the command line left out."""

from __future__ import annotations

from conftest import run_espforge


def write_config(folder, port: str) -> None:
    (folder / "esptool.cfg").write_text(
        f"[espforge]\nport = {port}\n\n[esptool]\nconnect_attempts = 2\n"
    )


def test_config_file_port_is_used_when_none_is_given(tmp_path) -> None:
    flash = tmp_path / "flash.bin"
    write_config(tmp_path, f"virtual://esp32c6?flash={flash}")
    result = run_espforge("read-mac", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"Loaded custom configuration from {tmp_path / 'esptool.cfg'}" in result.stdout
    assert "Connected to ESP32-C6" in result.stdout


def test_command_line_wins_over_the_config_file(tmp_path) -> None:
    write_config(tmp_path, f"virtual://esp32c6?flash={tmp_path / 'c6.bin'}")
    port = f"virtual://esp32s2?flash={tmp_path / 's2.bin'}"
    result = run_espforge("--port", port, "read-mac", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Connected to ESP32-S2" in result.stdout
