"""espefuse's commands over an eFuse session: reads run at once, burns queue into one plan.

The plan is checked as a whole, shown, confirmed (typing BURN unless do_not_confirm) and only
then programmed, so a refused or aborted plan writes nothing.

The session reads, and runs the plan; its burn commands come from `field_commands` and
`key_commands`, which queue through `burn_queue`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from espforge.efuse import burn, report, token, values
from espforge.efuse.field_commands import FieldCommands
from espforge.efuse.key_commands import KeyCommands
from espforge.efuse.programmer import Programmer
from espforge.efuse.state import EfuseState, RegisterAccess
from espforge.efuse.table import EfuseTable


@dataclass
class SessionOptions:
    do_not_confirm: bool = False
    postpone: bool = True
    debug: bool = False
    crystal_mhz: int | None = None  # sets the programming timing; None: the chip's usual


@dataclass
class EfuseSession(FieldCommands, KeyCommands):
    table: EfuseTable
    regs: RegisterAccess
    options: SessionOptions = field(default_factory=SessionOptions)
    out: Callable[[str], None] = print
    ask: Callable[[], str] = input
    changes: list[burn.Change] = field(default_factory=list)
    # --force-write-always: burn over protections and non-empty coded blocks anyway; None
    # while no command given has the option (espefuse's refusals then do not name it)
    force_write_always: bool | None = None
    show_sensitive_info: bool = False  # show key bytes in the plan instead of ??
    show_token: bool = False  # print the plan's EFSW token before asking to confirm
    # what each burn command checks once its bits are burned (espefuse's "Checking eFuses...")
    post_checks: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = EfuseState.read(self.table, self.regs)
        if self.options.debug:
            self.out("\n".join(report.dump_lines(self.state, "read_regs")))
            self.show_debug_status()

    def show_debug_status(self) -> None:
        """Under --debug, the controller's error and status registers, as espefuse shows them
        after reading and again where its summary and check-error start."""
        if self.options.debug:
            self.out("\n".join(report.status_register_lines(self.state, self.regs)))

    # --- reading ---

    def summary(
        self, names: list[str], output_format: str = "summary", active: bool = False
    ) -> str:
        return report.summary(self.state, names, output_format, active)

    def dump_text(self) -> str:
        return "\n".join(report.dump_lines(self.state)) + "\n"

    def dump_blocks(self) -> list[bytes]:
        return report.block_dump_bytes(self.state)

    def check_error(self) -> list[str]:
        """One line per block the coding scheme reports as faulty."""
        return [
            f"Error(s) in BLOCK{b.index} [ERRORS:{b.num_errors} FAIL:{b.failed}]."
            for b in self.state.blocks
            if b.failed or b.num_errors
        ]

    def error_details(self) -> list[str]:
        """What each faulty block (BLOCK0: each faulty field) holds, and whether it can be fixed."""
        state = self.state
        lines = []
        fixable = True
        for block in state.blocks:
            if not (block.failed or block.num_errors):
                continue
            if block.index == 0:
                items = [
                    (s.name, str(values.value(state, s)), state.writeable(s.wr_dis))
                    for s in state.fields
                    if s.block == 0 and state.field_failed(s)
                ]
            else:
                name = f"{block.spec.name} [ERRORS:{block.num_errors} FAIL:{int(block.failed)}]"
                bits = values.bit_text(block.bits, block.width)
                items = [(name, bits, state.writeable(block.spec.wr_dis))]
            for name, value, writeable in items:
                fixable &= writeable
                access = "writable" if writeable else "not writable"
                lines.append(f"BLOCK{block.index:<2}: {name:<40} = {value:<8} ({access})")
        if lines and not fixable:
            lines.append("Not all errors can be fixed because some fields are write-protected!")
        return lines

    def recover(self) -> bool:
        """Burn faulty blocks again with what they hold, so their check bits agree again."""
        faulty = [b for b in self.state.blocks if (b.failed or b.num_errors) and b.bits]
        if not faulty:
            return False
        self.out("Recovery of block coding errors. This is an irreversible operation!")
        if not self._confirmed():
            return False
        programmer = Programmer(self.state, self.regs, self.options.crystal_mhz, self.out)
        for block in reversed(faulty):
            block.pending = block.bits
            programmer.burn_block(block, verify=False)
        self.state.reload(self.regs)
        return True

    # --- burning ---

    @property
    def has_pending(self) -> bool:
        return any(block.pending for block in self.state.blocks)

    def plan_text(self) -> str:
        """espforge's plan: each change not shown yet, current -> new, and what it locks."""
        unshown = [change.text() for change in self.changes if not change.shown]
        return "\n".join(["Burning eFuses:", *unshown]) if unshown else ""

    def burn_all(self) -> bool:
        """Show, check, confirm and program the plan, in espefuse's words; False when aborted.

        A plan with nothing left to burn counts as done, as in espefuse."""
        plan = self.plan_text()
        if plan:
            self.out(plan)
        self.out("\nCheck all blocks for burn...")
        self.out("idx, BLOCK_NAME,          Conclusion")
        burn.check_pending(self.state, self.out, self.force_write_always)
        if not self.has_pending:
            self.out("Nothing to burn, see messages above.")
            self.changes.clear()
            return True
        if self.show_token:
            self.out(f"\neFuse token for burning:\n{token.build_queued(self.state)}")
        self.out(". \nThis is an irreversible operation!")
        if not self._confirmed():
            self._drop_plan()
            return False
        programmer = Programmer(self.state, self.regs, self.options.crystal_mhz, self.out)
        programmer.burn(self.options.postpone)
        self.out("Reading updated eFuses...")
        self.state.reload(self.regs)
        self.changes.clear()
        return True

    def finish(self, batch: bool) -> None:
        """espefuse's ending of a burn: the command's own read-back check unless several burn
        commands were batched, then Successful."""
        checks, self.post_checks = self.post_checks, []
        if not batch:
            for check in checks:
                check()
        self.out("Successful.")

    def _confirmed(self) -> bool:
        if self.options.do_not_confirm:
            return True
        self.out("Type 'BURN' (all capitals) to continue.")
        if self.ask().strip() == "BURN":
            return True
        self.out("Aborting.")
        return False

    def _drop_plan(self) -> None:
        for block in self.state.blocks:
            block.pending = 0
        self.changes.clear()
