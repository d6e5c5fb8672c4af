"""Config files and environment variables, as esptool users have them (plus [espforge])."""

from __future__ import annotations

from pathlib import Path

import pytest

from espforge.config import Settings, find_config_file, load_settings, option_defaults
from espforge.errors import EspforgeError


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    cwd, home = tmp_path / "project", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    return cwd, home


def load(cwd: Path, home: Path, **environ: str) -> Settings:
    return load_settings(environ, cwd, home)


def test_no_file_gives_esptools_defaults(folders) -> None:
    settings = load(*folders)
    assert settings == Settings()
    assert (settings.timeout, settings.sync_timeout, settings.erase_region_timeout_per_mb) == (
        3.0,
        0.1,
        40.0,
    )
    assert (settings.connect_attempts, settings.write_block_attempts, settings.path) == (7, 3, None)


def test_esptool_section_in_the_working_directory(folders) -> None:
    cwd, home = folders
    (cwd / "esptool.cfg").write_text(
        "[esptool]\ntimeout = 5\nconnect_attempts = 3\nchip_erase_timeout = 60\n"
        "custom_reset_sequence = D0|R1|W0.1|R0\n"
    )
    settings = load(cwd, home)
    assert settings.path == cwd / "esptool.cfg"
    assert (settings.timeout, settings.connect_attempts) == (5.0, 3)
    assert settings.max_timeout == 120.0  # follows the chip erase timeout, as esptool's
    assert settings.custom_reset_sequence == "D0|R1|W0.1|R0"
    assert option_defaults({}, settings) == {"connect_attempts": "3"}


def test_a_setup_cfg_without_our_section_is_passed_over(folders) -> None:
    cwd, home = folders
    (cwd / "setup.cfg").write_text("[flake8]\nmax-line-length = 100\n")
    (home / "tox.ini").write_text("[esptool]\nsync_timeout = 0.5\n")
    settings = load(cwd, home)
    assert (settings.path, settings.sync_timeout) == (home / "tox.ini", 0.5)


def test_search_order_cwd_then_user_config_dirs_then_home(folders) -> None:
    cwd, home = folders
    (home / "esptool.cfg").write_text("[esptool]\ntimeout = 9\n")
    (home / ".config" / "esptool").mkdir(parents=True)
    (home / ".config" / "esptool" / "esptool.cfg").write_text("[esptool]\ntimeout = 8\n")
    assert load(cwd, home).timeout == 8.0
    (cwd / "tox.ini").write_text("[espforge]\ntimeout = 7\n")
    assert load(cwd, home).timeout == 7.0


def test_espforge_section_overrides_and_adds_option_defaults(folders) -> None:
    cwd, home = folders
    (cwd / "esptool.cfg").write_text(
        "[esptool]\ntimeout = 5\n[espforge]\ntimeout = 6\nport = /dev/ttyUSB3\nbaud = 460800\n"
    )
    settings = load(cwd, home)
    assert settings.timeout == 6.0
    assert option_defaults({}, settings) == {"port": "/dev/ttyUSB3", "baud": "460800"}


def test_environment_beats_the_file_and_espforge_names_beat_esptools(folders) -> None:
    cwd, home = folders
    (cwd / "esptool.cfg").write_text("[espforge]\nport = /dev/ttyUSB3\nchip = esp32\n")
    settings = load(cwd, home)
    environ = {"ESPTOOL_PORT": "/dev/ttyACM0", "ESPFORGE_CHIP": "esp32c3", "ESPTOOL_CHIP": "esp32"}
    defaults = option_defaults(environ, settings)
    assert defaults == {"port": "/dev/ttyACM0", "chip": "esp32c3"}


@pytest.mark.parametrize("variable", ["ESPTOOL_CFGFILE", "ESPFORGE_CFGFILE"])
def test_a_file_named_by_the_environment_comes_first(folders, variable: str) -> None:
    cwd, home = folders
    (cwd / "esptool.cfg").write_text("[esptool]\ntimeout = 5\n")
    named = home / "elsewhere.ini"
    named.write_text("[esptool]\ntimeout = 11\n")
    assert load(cwd, home, **{variable: str(named)}).timeout == 11.0


def test_a_named_file_that_cannot_be_used_falls_back_with_a_warning(folders) -> None:
    cwd, home = folders
    (cwd / "esptool.cfg").write_text("[esptool]\ntimeout = 5\n")
    path, warnings = find_config_file({"ESPTOOL_CFGFILE": str(home / "missing.cfg")}, cwd, home)
    assert path == cwd / "esptool.cfg"
    assert "ignoring ESPTOOL_CFGFILE" in warnings[0]


def test_unknown_options_are_warned_about(folders) -> None:
    cwd, home = folders
    (cwd / "esptool.cfg").write_text("[esptool]\nport = x\ntimout = 3\n[espforge]\nbaud = 1\n")
    warning = load(cwd, home).warnings[0]
    assert "port, timout" in warning


def test_a_bad_number_is_one_clear_line(folders) -> None:
    cwd, home = folders
    (cwd / "esptool.cfg").write_text("[esptool]\nconnect_attempts = many\n")
    with pytest.raises(EspforgeError, match="'connect_attempts = many' is not a number"):
        load(cwd, home)


def test_timeouts_scale_with_the_work_as_esptools() -> None:
    settings = Settings()
    assert settings.timeout_for(settings.erase_region_timeout_per_mb, 1000) == 3.0
    assert settings.timeout_for(settings.erase_region_timeout_per_mb, 4_000_000) == 160.0
    assert settings.timeout_for(settings.md5_timeout_per_mb, 2_000_000) == 16.0


def test_esptool_reads_the_same_file(folders, monkeypatch: pytest.MonkeyPatch) -> None:
    config = pytest.importorskip("esp_pylib.config")
    cwd, home = folders
    (home / "setup.cfg").write_text("[tool]\n")
    (cwd / "tox.ini").write_text("[esptool]\nreset_delay = 0.2\n")
    theirs = config.ToolConfig("esptool", ["esptool.cfg", "setup.cfg", "tox.ini"])
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    assert theirs.find() == load(cwd, home).path
    assert load(cwd, home).reset_delay == 0.2


def test_open_port_attempts_comes_from_the_environment_too(folders) -> None:
    cwd, home = folders
    (cwd / "esptool.cfg").write_text("[esptool]\nopen_port_attempts = 2\n")
    assert load(cwd, home).open_port_attempts == 2
    assert load(cwd, home, ESPTOOL_OPEN_PORT_ATTEMPTS="5").open_port_attempts == 5
    assert load(cwd, home, ESPFORGE_OPEN_PORT_ATTEMPTS="0").open_port_attempts == 0
    with pytest.raises(EspforgeError, match="ESPTOOL_OPEN_PORT_ATTEMPTS=x is not a whole"):
        load(cwd, home, ESPTOOL_OPEN_PORT_ATTEMPTS="x")
