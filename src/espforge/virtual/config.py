"""Building a virtual chip from text options (a virtual:// URL query, or the serve command)."""

from __future__ import annotations

from collections.abc import Mapping

from espforge.chips import get_chip
from espforge.errors import EspforgeError
from espforge.virtual.chip import VirtualChip
from espforge.virtual.chip_options import ChipOptions, LinkModel
from espforge.virtual.cpu import cpu_map_for
from espforge.virtual.faults import FaultPlan
from espforge.virtual.identity import ChipIdentity, parse_mac, parse_revision
from espforge.virtual.rom import FlashTiming

OPTION_HELP = (
    "flash=FILE, flash_size=4MB, mac=aa:bb:cc:dd:ee:ff, revision=1.0, crystal=40, "
    "start=download|app, sdm=1, link=1 (realistic timing), throttle=1, latency=SECONDS, "
    "flash_timing=1, faults=drop=0.1,corrupt=0.05,only=FLASH_DATA/MEM_DATA, seed=N, log=FILE, "
    "rollback=1 (its ESP-IDF bootloader does app rollback), "
    "cpu=emulate (ESP32-C3: run the uploaded flasher stub on an emulated RISC-V CPU; "
    "needs the unicorn package)"
)
_TRUE = {"1", "true", "yes", "on"}


def chip_from_options(chip_name: str, options: Mapping[str, str]) -> VirtualChip:
    """A virtual chip of model `chip_name` configured by `options` (see OPTION_HELP)."""
    unknown = set(options) - {
        "flash",
        "flash_size",
        "mac",
        "revision",
        "crystal",
        "start",
        "sdm",
        "link",
        "throttle",
        "latency",
        "flash_timing",
        "faults",
        "seed",
        "log",
        "rollback",
        "cpu",
    }
    if unknown:
        raise EspforgeError(
            f"virtual chip option '{sorted(unknown)[0]}' is unknown: use {OPTION_HELP}"
        )
    chip = get_chip(chip_name)
    return VirtualChip.create(
        chip,
        flash_size=options.get("flash_size", "4MB"),
        flash_file=options.get("flash"),
        options=chip_options(chip_name, options),
    )


def chip_options(chip_name: str, options: Mapping[str, str]) -> ChipOptions:
    chip = get_chip(chip_name)
    identity = ChipIdentity.default_for(chip)
    mac = parse_mac(options["mac"]) if "mac" in options else identity.mac
    revision = parse_revision(options["revision"]) if "revision" in options else identity.revision
    crystal = _number(options, "crystal", identity.crystal_mhz, int)
    start = options.get("start", "download")
    if start not in ("download", "app"):
        raise EspforgeError(f"start={start} is not understood: use start=download or start=app")
    cpu = options.get("cpu", "model")
    if cpu not in ("model", "emulate"):
        raise EspforgeError(f"cpu={cpu} is not understood: use cpu=emulate or cpu=model")
    if cpu == "emulate" and cpu_map_for(chip) is None:
        raise EspforgeError(f"cpu=emulate: {chip.chip_name} has no emulated CPU yet (ESP32-C3 has)")
    faults = None
    if "faults" in options:
        faults = FaultPlan.from_text(options["faults"], seed=_number(options, "seed", 0, int))
    return ChipOptions(
        identity=ChipIdentity(mac, revision, crystal),
        link=_link_model(options),
        faults=faults,
        start_in_app=start == "app",
        secure_download=options.get("sdm", "0").lower() in _TRUE,
        log_path=options.get("log"),
        rollback=options.get("rollback", "0").lower() in _TRUE,
        emulate_cpu=cpu == "emulate",
    )


def _link_model(options: Mapping[str, str]) -> LinkModel:
    base = LinkModel.realistic() if options.get("link", "0").lower() in _TRUE else LinkModel()
    throttle = options.get("throttle")
    timing = options.get("flash_timing")
    return LinkModel(
        throttle=base.throttle if throttle is None else throttle.lower() in _TRUE,
        latency=_number(options, "latency", base.latency, float),
        timing=base.timing if timing is None else (FlashTiming() if timing in _TRUE else None),
    )


def _number(options: Mapping[str, str], key: str, default, kind):
    if key not in options:
        return default
    try:
        return kind(options[key])
    except ValueError:
        raise EspforgeError(f"virtual chip option {key}={options[key]} is not a number") from None
