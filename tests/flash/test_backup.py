"""`espforge backup` and `restore` against the virtual chip: the archive's manifest, a backup,
erase, restore round trip giving back the same flash, and the refusals."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from boards import CHIPS, MB, Board, app_image


def manifest_of(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))


@pytest.mark.parametrize("chip", CHIPS)
def test_backup_erase_restore_gives_back_the_same_flash(chip: str, tmp_path: Path):
    board = Board(chip, tmp_path)
    board.install(apps={"factory": app_image(chip), "ota_1": app_image(chip, "b", "2")})
    board.seed(0x9000, b"nvs data" * 64)
    original = board.flash()
    backup = tmp_path / "board.zip"
    board.run("backup", str(backup))

    manifest = manifest_of(backup)
    assert manifest["format"] == "espforge-backup" and manifest["version"] == 1
    assert manifest["chip"] == chip and manifest["flash_size"] == MB
    assert manifest["partition_table_offset"] == 0x8000
    assert manifest["md5"] == hashlib.md5(original).hexdigest()
    assert manifest["regions"] == [
        {"name": "flash", "offset": 0, "size": MB, "file": "flash.bin", "md5": manifest["md5"]}
    ]
    nvs = manifest["partitions"][0]
    assert nvs["name"] == "nvs"
    assert nvs["md5"] == hashlib.md5(original[0x9000:0xD000]).hexdigest()
    with zipfile.ZipFile(backup) as archive:
        assert archive.read("flash.bin") == original

    board.run("erase-region", "0x9000", "0x4000")
    board.run("erase-region", "0x90000", "0x10000")
    restored = board.run("restore", str(backup)).stdout
    assert board.flash() == original
    assert f"wrote {0x20000} bytes, {MB - 0x20000} bytes already matched" in restored
    assert "The flash MD5 matches the backup's." in restored


def test_partition_backups_restore_only_those(tmp_path: Path):
    board = Board("esp32c3", tmp_path)
    board.install()
    board.seed(0xD0000, b"spiffs" * 100)
    backup = tmp_path / "some.zip"
    board.run("backup", "--partitions", "storage,factory", str(backup))
    manifest = manifest_of(backup)
    assert [region["name"] for region in manifest["regions"]] == ["storage", "factory"]
    assert manifest["md5"] is None
    covered = {entry["name"]: entry["md5"] for entry in manifest["partitions"]}
    assert covered["nvs"] is None
    assert covered["storage"] == hashlib.md5(board.flash(0xD0000, 0x10000)).hexdigest()
    original = board.flash()
    board.run("erase-region", "0xd0000", "0x10000")
    board.seed(0x9000, b"\x00" * 16)  # outside the backup: left alone
    board.run("restore", str(backup))
    after = board.flash()
    assert after[0xD0000:0xE0000] == original[0xD0000:0xE0000]
    assert after[0x9000:0x9010] == b"\x00" * 16


def test_corrupt_or_foreign_backups_are_refused(tmp_path: Path):
    board = Board("esp32c3", tmp_path)
    board.install()
    backup = tmp_path / "b.zip"
    board.run("backup", "--partitions", "nvs", str(backup))
    board.run("erase-region", "0x10000", "0x1000")
    before = board.flash()

    corrupt = tmp_path / "corrupt.zip"
    _rewrite(backup, corrupt, data={"nvs.bin": b"\x00" * 0x4000})
    refused = board.run("restore", str(corrupt), ok=False)
    assert "does not match its MD5" in refused.stderr

    foreign = tmp_path / "foreign.zip"
    _rewrite(backup, foreign, manifest={"chip": "esp32s3", "chip_name": "ESP32-S3"})
    refused = board.run("restore", str(foreign), ok=False)
    assert "made on ESP32-S3" in refused.stderr and "--force" in refused.stderr

    larger = tmp_path / "larger.zip"
    _rewrite(backup, larger, manifest={"flash_size": 4 * MB})
    refused = board.run("restore", str(larger), ok=False)
    assert "larger than this chip's 1MB" in refused.stderr

    assert board.flash() == before
    board.run("restore", "--force", str(foreign))

    not_zip = tmp_path / "n.zip"
    not_zip.write_bytes(b"nope")
    assert "not a readable espforge backup" in board.run("restore", str(not_zip), ok=False).stderr


def test_an_interrupted_backup_leaves_no_file(tmp_path: Path):
    board = Board("esp32c3", tmp_path)
    board.url += "&faults=disconnect_after=40"
    backup = tmp_path / "cut.zip"
    board.run("backup", str(backup), ok=False)
    assert not backup.exists()
    assert [path.name for path in tmp_path.iterdir()] == ["esp32c3-flash.bin"]


def _rewrite(source: Path, target: Path, data=None, manifest=None) -> None:
    """A copy of a backup archive with some files or manifest keys replaced."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(buffer, "w") as new:
        for name in old.namelist():
            content = old.read(name)
            if name == "manifest.json" and manifest:
                content = json.dumps(json.loads(content) | manifest).encode()
            new.writestr(name, (data or {}).get(name, content))
    target.write_bytes(buffer.getvalue())
