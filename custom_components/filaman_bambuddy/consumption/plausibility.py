"""Could a booking be true? Grams Bambuddy booked that FilaMan's own figures rule out.

Bambuddy's usage tracker has booked a full label weight for a failed flow calibration, 207 g
for a 1.6 g print without a 3MF, and a removed spool's whole weight. Sent on, such a row makes
the spool's weight wrong until someone notices. So before a debit the grams are compared with
what FilaMan knows of the spool and what Bambuddy's archive knows of the print; a booking that
cannot be true is held for the user's decision instead (the debit queue, :mod:`.debit`).

The limits are generous on purpose: a normal print is never held. The remaining weight and the
estimate are figures a person or a slicer wrote down, so each has a margin; the label weight is
a hard bound (no print takes a whole spool's filament to the gram: that is a fall-back value).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_REMAINING_MARGIN_G = 50.0
DEFAULT_ESTIMATE_FACTOR = 3.0
# Above an estimate by less than this is never doubted: Bambuddy's remain-% path counts in
# steps of 1 % of the label weight (10 g of a 1 kg spool), so a tiny print may book 10-20 g.
ESTIMATE_SLACK_G = 30.0


@dataclass(frozen=True, slots=True)
class Limits:
    """How far a booking may go beyond FilaMan's figures before it is held (options)."""

    remaining_margin_g: float = DEFAULT_REMAINING_MARGIN_G
    """Grams above the spool's remaining net weight that are still believed."""
    estimate_factor: float = DEFAULT_ESTIMATE_FACTOR
    """Times the print's 3MF estimate that are still believed (and ESTIMATE_SLACK_G more)."""


class Doubt(StrEnum):
    """Which of FilaMan's figures the booking contradicts."""

    ABOVE_LABEL = "above_label"
    """A full spool's label net weight or more: the signature of Bambuddy's fall-backs (a
    removed spool charged its whole label weight, a failed calibration booking 1 kg)."""
    ABOVE_REMAINING = "above_remaining"
    """More than FilaMan says is left on the spool, beyond the margin."""
    ABOVE_ESTIMATE = "above_estimate"
    """Far more than the whole print's 3MF estimate."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a booking is held, and what FilaMan expected instead (grams)."""

    doubt: Doubt
    expected_g: float

    def as_reason(self) -> str:
        """The ledger entry's reason, e.g. ``above_remaining:230`` (grams FilaMan expected)."""
        return f"{self.doubt.value}:{self.expected_g:g}"

    @classmethod
    def from_reason(cls, reason: str | None) -> Verdict | None:
        doubt, _, expected = (reason or "").partition(":")
        try:
            return cls(Doubt(doubt), float(expected))
        except ValueError:
            return None


def doubt_about(
    grams: float,
    *,
    remaining_g: float | None,
    label_net_g: float | None,
    estimate_g: float | None,
    limits: Limits,
) -> Verdict | None:
    """``None`` when the booking may be true; otherwise the first figure it contradicts.

    Unknown figures (``None``: an untracked spool, a print without a 3MF) rule out nothing.
    """
    if label_net_g is not None and label_net_g > 0 and grams >= label_net_g:
        return Verdict(Doubt.ABOVE_LABEL, round(label_net_g, 1))
    if remaining_g is not None and grams > max(remaining_g, 0.0) + limits.remaining_margin_g:
        return Verdict(Doubt.ABOVE_REMAINING, round(max(remaining_g, 0.0), 1))
    if estimate_g is not None and estimate_g > 0 and grams > could_use(estimate_g, limits):
        return Verdict(Doubt.ABOVE_ESTIMATE, round(estimate_g, 1))
    return None


def could_use(estimate_g: float, limits: Limits) -> float:
    """The most grams a print with this 3MF estimate is believed to use."""
    return max(estimate_g * limits.estimate_factor, estimate_g + ESTIMATE_SLACK_G)


def label_net(initial_total_g: float | None, tare_g: float | None) -> float | None:
    """A FilaMan spool's filament when new: gross minus tare (``None`` when either is unknown)."""
    if initial_total_g is None or tare_g is None or initial_total_g <= tare_g:
        return None
    return initial_total_g - tare_g
