"""eFuse session commands on fields and blocks: burn-efuse, read/write-protect-efuse,
burn-block-data, burn-bit, get/burn-custom-mac and set-flash-voltage."""

from __future__ import annotations

from espforge.efuse import burn, report, values
from espforge.efuse.burn_queue import BurnQueue
from espforge.efuse.burn_values import check_fits, parse_mac, parse_value
from espforge.efuse.table import EfuseError, FieldSpec


class FieldCommands(BurnQueue):
    """The field and block commands of `EfuseSession`; each queues into the session's plan."""

    def get_custom_mac(self) -> str:
        mac = values.value(self.state, self.state.field("CUSTOM_MAC"))
        if self.table.custom_mac_version is None:
            return f"Custom MAC Address: {mac}"
        version = self.state.raw(self.state.field(self.table.custom_mac_version))
        if version == 0:
            return "Custom MAC Address is not set in the device."
        return f"Custom MAC Address version {version}: {mac}"

    def burn_efuses(self, pairs: list[tuple[str, str | None]]) -> None:
        """espefuse's burn-efuse: the fields by block, then each line of the plan as queued."""
        specs = [self.state.field(name) for name, _ in pairs]
        self._unique([spec.name for spec in specs])
        wanted = [
            parse_value(self.state, spec, text)
            for spec, (_, text) in zip(specs, pairs, strict=True)
        ]
        self.out("The eFuses to burn:")
        for block in self.state.blocks:
            in_block = [spec for spec in specs if spec.block == block.index]
            if in_block:
                self.out(f"  from BLOCK{block.index}")
                self.out("\n".join(f"     - {spec.name}" for spec in in_block))
        self.out("\nBurning eFuses:")
        for spec, bits in zip(specs, wanted, strict=True):
            check_fits(spec, bits)
            self._queue(spec, bits, shown_as="")
        self.out("")
        self._warn_connection_loss([spec.name for spec in specs])
        self.post_checks.append(lambda: self._check_fields(specs, wanted))

    def _warn_connection_loss(self, names: list[str]) -> None:
        """espefuse's warnings for the eFuses that end the tools' access to the chip."""
        warnings = {
            "ENABLE_SECURITY_DOWNLOAD": "eFuses will not be read back for confirmation because "
            "this mode disables any SRAM and register operations.\nespefuse will not work.\n"
            "esptool can read/write only flash.",
            "DIS_DOWNLOAD_MODE": "eFuses will not be read back for confirmation because this "
            "mode disables any communication with the chip.\nespefuse/esptool will not work "
            "because they will not be able to connect to the chip.",
        }
        if self.state.chip_revision() >= 300:
            warnings["UART_DOWNLOAD_DIS"] = (
                "eFuses will be read for confirmation, but after that connection to the chip "
                "will become impossible.\nespefuse/esptool will not work."
            )
        for name, text in warnings.items():
            if name in names:
                pad = " " * (len(name) + 7)  # under the text after "NAME -> 1: "
                self.out(f"{name} -> 1: " + text.replace("\n", "\n" + pad))

    def _check_fields(self, specs: list[FieldSpec], wanted: list[int]) -> None:
        self.out("Checking eFuses...")
        failed = False
        for spec, bits in zip(specs, wanted, strict=True):
            if not self.state.readable(spec.rd_dis):
                self.out(
                    f"Efuse {spec.name} is read-protected. "
                    "Read back the burn value is not possible."
                )
            elif self.state.raw(spec) != bits:
                burned = values.bit_text(self.state.raw(spec), spec.bits)
                self.out(
                    f"{burned} -> {values.bit_text(bits, spec.bits)} "
                    f"Efuse {spec.name} failed to burn. Protected?"
                )
                failed = True
        if failed:
            raise EfuseError("The burn was not successful.")

    def protect(self, names: list[str], read: bool) -> None:
        """espefuse's read-protect-efuse / write-protect-efuse: names what shares the bit."""
        self._unique(names)
        what = "read" if read else "write"
        specs = [self.state.field(name) for name in names]
        for spec in specs:
            bits = burn.protect_bits(spec, read)
            unprotected = self.state.readable if read else self.state.writeable
            if bits and not unprotected(bits if read else bits[0]):
                ending = "" if read else "."
                self.out(f"Efuse {spec.name} is already {what} protected{ending}")
                continue
            if read:
                self._refuse_needed_key(spec)
            if bits:
                sharing = [s.name for s in self.state.fields if burn.protect_bits(s, read) == bits]
                plural = "s" if len(sharing) > 1 else ""
                self.out(f"Permanently {what}-disabling eFuse{plural} {', '.join(sharing)}")
            self._queue_protect(spec.name, read)
        self.post_checks.append(lambda: self._check_protected(specs, read))

    def _refuse_needed_key(self, spec: FieldSpec) -> None:
        """A key block whose purpose the hardware reads back must stay readable."""
        block = self.table.blocks[spec.block]
        if block.key_purpose is None or spec.name not in block.all_names:
            return
        purpose = values.value(self.state, self.state.field(block.key_purpose))
        if not self.table.purpose(str(purpose)).read_protect:
            raise EfuseError(f"{spec.name} must be readable, stop this operation!")

    def _check_protected(self, specs: list[FieldSpec], read: bool) -> None:
        self.out("Checking eFuses...")
        what = "read" if read else "write"
        still_open = [
            spec
            for spec in specs
            if (self.state.readable(spec.rd_dis) if read else self.state.writeable(spec.wr_dis))
        ]
        for spec in still_open:
            self.out(f"Efuse {spec.name} is not {what}-protected.")
        if still_open:
            raise EfuseError("The burn was not successful.")

    def burn_block_data(self, items: list[tuple[str, bytes]], offset: int = 0) -> None:
        self._unique([name for name, _ in items])
        if offset and len(items) > 1:
            raise EfuseError(
                "The 'offset' option is not applicable when a few blocks are passed. "
                "With 'offset', should only one block be used."
            )
        for name, data in items:
            block = self.state.block_for_name(name)
            padded = burn.queue_block_data(self.state, block, data, offset)
            self.out(
                f"[{block.index:02d}] {block.spec.name:20} size={len(padded):02d} bytes, "
                f"offset={offset:02d} -> [{padded.hex(' ')}]"
            )
            self.changes.append(
                burn.Change(
                    block.spec.name, f"{len(data)} bytes at offset {offset}", "", data.hex()
                )
            )

    def burn_bits(self, name: str, bits: list[int]) -> None:
        block = self.state.block_for_name(name)
        wanted = 0
        for bit in bits:
            if not 0 <= bit < block.width:
                raise EfuseError(f"{name} has bit_number in [0..{block.width - 1}]")
            wanted |= 1 << bit
        self.out(f"bit_number:   [{block.width - 1:03d}]" + "." * 56 + "[0]")
        self.out(f"BLOCK{block.index:>2d}   : {values.bit_text(wanted, block.width)}")
        words = " ".join(f"{wanted >> (32 * i) & 0xFFFFFFFF:08x}" for i in range(block.word_count))
        self.out(report.block_line(block.spec, "regs_to_write", words))
        burn.queue_block_data(self.state, block, wanted.to_bytes(block.width // 8, "little"), 0)
        self.changes.append(burn.Change(block.spec.name, "bits", "", ", ".join(map(str, bits))))

    def burn_custom_mac(self, mac: str) -> None:
        """CUSTOM_MAC, plus (ESP32) its MAC_VERSION 1 and its CRC; each line shown as queued."""
        state = self.state
        spec = state.field("CUSTOM_MAC")
        bits = parse_value(state, spec, mac)
        if self.table.custom_mac_version is not None:
            version = state.field(self.table.custom_mac_version)
            current = state.raw(version)
            if current not in (0, 1):
                raise EfuseError(f"{version.name} = {current}, should be 0 or 1.")
            if current == 0:
                self._queue(version, 1, shown_as=hex(1))
        self._queue(spec, bits, shown_as="")
        crc_field = self.table.mac_crc.get(spec.name)
        if crc_field is not None:
            crc = values.crc8(parse_mac(mac))
            self._queue(state.field(crc_field), crc, shown_as=hex(crc))
        self.post_checks.append(lambda: self.out(self.get_custom_mac()))

    def set_flash_voltage(self, voltage: str) -> None:
        """OFF, 1.8V or 3.3V through the note's three fields: force, regulator, 3.3 V tie."""
        fields = [name for name, _, _ in self.table.flash_voltage_note if name is not None]
        if len(fields) != 3:
            raise EfuseError(f"{self.table.chip} has no flash-voltage eFuses to set")
        force, regulator, tieh = (self.state.field(name) for name in fields)
        tieh_burned = self.state.raw(tieh) != 0
        if voltage == "OFF" and self.state.raw(regulator):
            raise EfuseError(
                f"Can't set flash regulator to OFF as {regulator.name} eFuse is already burned."
            )
        if voltage == "1.8V" and tieh_burned:
            raise EfuseError(f"Can't set regulator to 1.8V is {tieh.name} eFuse is already burned.")
        later = "to 3.3V" if tieh_burned else "to 1.8V or 3.3V"
        plans = {
            "OFF": (
                [force],
                "Disable internal flash voltage regulator (VDD_SDIO). SPI flash will need to be "
                f"powered from an external source.\nThe following eFuse is burned: {force.name}."
                f"\nIt is possible to later re-enable the internal regulator{later}"
                "by burning an additional eFuse.",
            ),
            "1.8V": (
                [force, regulator],
                "Set internal flash voltage regulator (VDD_SDIO) to 1.8V.\nThe following eFuses "
                f"are burned: {force.name}, {regulator.name}.\nIt is possible to later increase "
                f"the voltage to 3.3V (permanently) by burning additional eFuse {tieh.name}.",
            ),
            "3.3V": (
                [force, regulator, tieh],
                "Enable internal flash voltage regulator (VDD_SDIO) to 3.3V.\nThe following "
                f"eFuses are burned: {force.name}, {regulator.name}, {tieh.name}.",
            ),
        }
        if voltage not in plans:
            raise EfuseError(f"'{voltage}' is not a flash voltage: use 1.8V, 3.3V or OFF")
        specs, text = plans[voltage]
        self.out(text)
        for spec in specs:
            self._queue(spec, 1)
        self.out("VDD_SDIO setting complete.")
