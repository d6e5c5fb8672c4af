"""What every burn command of an eFuse session builds on: the session's state and plan, and
queueing a field or a protection into that plan."""

from __future__ import annotations

from collections.abc import Callable

from espforge.efuse import burn
from espforge.efuse.state import EfuseState
from espforge.efuse.table import EfuseError, EfuseTable, FieldSpec


class BurnQueue:
    """The part of `EfuseSession` (in `operations`) that the command families share."""

    table: EfuseTable
    state: EfuseState
    out: Callable[[str], None]
    changes: list[burn.Change]
    force_write_always: bool | None
    show_sensitive_info: bool
    post_checks: list[Callable[[], None]]

    def _queue(self, spec: FieldSpec, bits: int, shown_as: str | None = None) -> burn.Change:
        """Queue a field. With `shown_as` (espefuse's way of writing the new value, "" for the
        usual one) the change is printed as espefuse prints it when it queues it."""
        change = burn.describe(self.state, spec, bits)
        if shown_as:
            change.new = shown_as
        show = shown_as is not None
        force = self.force_write_always
        self.changes.append(burn.queue_field(self.state, spec, bits, force, self.out, change, show))
        return change

    def _queue_protect(self, name: str, read: bool) -> None:
        force = self.force_write_always
        self.changes.append(burn.queue_protect(self.state, name, read, force, self.out))

    def _unique(self, names: list[str]) -> None:
        repeated = [name for i, name in enumerate(names) if name in names[:i]]
        if repeated:
            raise EfuseError(f"Found repeated {repeated} in the name list.")
