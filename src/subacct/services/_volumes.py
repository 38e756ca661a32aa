"""The payer's pooled volume per charge over storage (private; the rule is
``subacct.pricing.holds.SendVolume.require_room``).

A charge whose price has a top (a plan ladder without an overage rate) keeps one
``SendVolume`` per payer and period: the usage recorded for it in the payer's pool and
the messages of the open reservations and holds counted for it. ``app.billing``
(``check_send``, ``reserve_send``, ``record_usage``) and ``app.sending`` (``authorize``,
``capture``) refuse what would take it past the top, so whatever is accepted can be
invoiced. A prepaid payer's volume also keeps what its captured sends delivered (the
base of their prices), whatever its price."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from subacct.domain.ids import AccountId
from subacct.errors import VolumeAboveLadder
from subacct.policy import VIEW_BILLING
from subacct.pricing import BillingPeriod, PriceList, charge_for
from subacct.pricing.billing_run import payer_in
from subacct.pricing.channels import Dimensions
from subacct.pricing.holds import SendVolume, room_without_figures
from subacct.pricing.model import PriceModel
from subacct.pricing.profiles import BillingProfile
from subacct.services._runner import Unit
from subacct.storage.collections import BILLING_PROFILES, SEND_VOLUMES

Volumes = Mapping[str, SendVolume | None]
"""Volumes as already read in a unit, by record key (``None``: read, none stored)."""


@attrs.frozen
class Room:
    """The charge ``charge`` of payer ``payer_id``'s price that a send counts in, and its
    model (one with a top)."""

    payer_id: AccountId
    charge: str
    model: PriceModel

    def key(self, period: BillingPeriod) -> str:
        return volume_key(self.payer_id, period, self.charge)


def volume_key(payer_id: str, period: BillingPeriod, charge: str) -> str:
    """A ``SendVolume``'s record key (``SEND_VOLUMES``)."""
    return f"{payer_id}/{period}/{charge}"


def payer_profile(
    unit: Unit, chain: Sequence[str], profiles: Mapping[str, BillingProfile] | None = None
) -> BillingProfile | None:
    """The billing profile of the nearest payer of ``chain`` (the account, then up), from
    ``profiles`` when the unit has read them."""
    found = unit.uow.records(BILLING_PROFILES).find_many(chain) if profiles is None else profiles
    payer = payer_in(list(chain), set(found))
    return None if payer is None else found[payer]


def room_of(
    profile: BillingProfile | None, channel: str | None, dims: Dimensions | None = None
) -> Room | None:
    """The charge of ``profile``'s price a send on ``channel`` counts in, when its price
    has a top; ``None`` when there is nothing to count (no payer, no top, or a price of
    several charges and no channel named: its usage is checked when recorded).
    ``NoMatchingCharge`` when no charge bills the channel."""
    if profile is None or (channel is None and isinstance(profile.price, PriceList)):
        return None
    charge, model = charge_for(profile.price, channel or "", dims or {})
    return None if model.max_volume is None else Room(profile.account_id, charge, model)


def told(unit: Unit, refusal: VolumeAboveLadder) -> VolumeAboveLadder:
    """``refusal`` as the caller may see it: its figures only with ``billing.view`` in the
    payer (a pooled sub's user learns the payer's price is used up, not its volume)."""
    payer = refusal.details.get("payer_id")
    if payer is None or unit.decide(VIEW_BILLING, payer).allowed:
        return refusal
    return room_without_figures(refusal)


def refusal(
    unit: Unit, room: Room | None, period: BillingPeriod, quantity: int
) -> VolumeAboveLadder | None:
    """Why ``quantity`` more messages do not fit in ``room`` now (``None``: they do)."""
    if room is None:
        return None
    _, volume = _stored(unit, room, period)
    found = volume.room_refusal(room.model, quantity)
    return None if found is None else told(unit, found)


def _stored(unit: Unit, room: Room, period: BillingPeriod) -> tuple[SendVolume | None, SendVolume]:
    """``room``'s stored volume of ``period`` (``None``: none yet), and it or an empty one."""
    stored = unit.uow.records(SEND_VOLUMES).find(room.key(period))
    return stored, stored or SendVolume(room.payer_id, period, room.charge, 0)


def take(unit: Unit, room: Room | None, period: BillingPeriod, quantity: int) -> None:
    """Hold ``quantity`` messages in ``room`` for an open send, or refuse
    (``VolumeAboveLadder``) with nothing held."""
    if room is None:
        return
    stored, volume = _stored(unit, room, period)
    found = volume.room_refusal(room.model, quantity)
    if found is not None:
        raise told(unit, found)
    _write(unit, stored, volume.moved(held=quantity))


def count(
    unit: Unit,
    period: BillingPeriod,
    *,
    released: Iterable[tuple[str | None, str | None, int]] = (),
    recorded: Iterable[tuple[Room, int]] = (),
    captured: Iterable[tuple[str, str, int]] = (),
    found: Volumes | None = None,
) -> None:
    """Move the volumes of ``period``: the messages of ``released`` reservations
    (``(payer, charge, quantity)``; no payer: none was counted) leave their volumes,
    ``recorded`` usage joins its room's volume, refused (``VolumeAboveLadder``) past the
    top once what was released is out, and ``captured`` prepaid messages join the base
    of their prices. ``found``: volumes already read in the unit."""
    moves: dict[tuple[str, str], dict[str, int]] = {}
    rooms: dict[tuple[str, str], Room] = {}

    def move(payer: str, charge: str, field: str, n: int) -> None:
        at = moves.setdefault((payer, charge), {})
        at[field] = at.get(field, 0) + n

    for payer, charge, n in released:
        if payer is not None and charge is not None and n:
            move(payer, charge, "held", -n)
    for topped, n in recorded:
        rooms[(topped.payer_id, topped.charge)] = topped
        move(topped.payer_id, topped.charge, "recorded", n)
    for payer, charge, n in captured:
        move(payer, charge, "counted", n)
    if not moves:
        return
    keys = {pc: volume_key(pc[0], period, pc[1]) for pc in moves}
    known = dict(found or {})
    missing = [k for k in keys.values() if k not in known]
    if missing:
        known.update(dict.fromkeys(missing))
        known.update(unit.uow.records(SEND_VOLUMES).find_many(missing))
    for (payer, charge), by in moves.items():
        stored = known[keys[(payer, charge)]]
        volume = stored or SendVolume(payer, period, charge, 0)
        held = max(by.get("held", 0), -volume.held)  # what a reservation counted, at most
        room = rooms.get((payer, charge))
        if room is not None:
            refused = volume.moved(held=held).room_refusal(room.model, by["recorded"])
            if refused is not None:
                raise told(unit, refused)
        after = volume.moved(
            held=held, recorded=by.get("recorded", 0), counted=by.get("counted", 0)
        )
        if stored is not None or after.recorded or after.counted:
            _write(unit, stored, after)


def _write(unit: Unit, stored: SendVolume | None, after: SendVolume) -> None:
    from subacct.services._quotas import add_first  # (_quotas counts usage through here)

    volumes = unit.uow.records(SEND_VOLUMES)
    if stored is None:
        add_first(volumes.add, attrs.evolve(after, version=1))
    else:
        volumes.update(after)
