"""Sending channels: open names, and the host's catalog of the ones it offers.

A ``Channel`` is a short snake_case name (``"email"``, ``"sms"``, ``"whatsapp"``): the
pure core checks only its shape. Which channels an application offers is the host's
choice, like its actions: a ``ChannelCatalog`` on ``Settings(channels=...)`` (email,
SMTP and SMS by default). The service layer refuses a channel missing from the catalog
(``UnknownChannel``, field ``channel``) in usage, sends and reports alike.

>>> from subacct.pricing import DEFAULT_CHANNELS, Channel
>>> catalog = DEFAULT_CHANNELS.with_channels("whatsapp")
>>> Channel.SMS in catalog, "whatsapp" in catalog, "voice" in catalog
(True, True, False)
>>> catalog.require("sms") == Channel.SMS
True

``Dimensions`` are what a usage record says about a send beyond its channel (the
destination country of an SMS, say): an immutable mapping of short names to text, which
a price's charges match on (``subacct.pricing.charges``).

>>> from subacct.pricing import Dimensions
>>> Dimensions({"country": "DE"}) == {"country": "DE"}, Dimensions().key
(True, '{}')
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, Final

import attrs

from subacct.errors import InvalidInput, UnknownChannel, quoted
from subacct.pricing import _checks

__all__ = [
    "DEFAULT_CHANNELS",
    "MAX_DIMENSIONS",
    "NO_DIMENSIONS",
    "Channel",
    "ChannelCatalog",
    "Dimensions",
    "dimensions",
]

_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")


class Channel(str):
    """A sending channel's name: 1 to 32 characters of lowercase letters, digits and
    ``_``, starting with a letter. A ``str`` (it compares and hashes as its text);
    ``Channel.EMAIL``, ``Channel.SMTP`` and ``Channel.SMS`` name the default three.

    >>> Channel("whatsapp"), Channel.SMS == "sms"
    (Channel('whatsapp'), True)
    """

    __slots__ = ()

    EMAIL: ClassVar[Channel]
    SMTP: ClassVar[Channel]
    SMS: ClassVar[Channel]

    def __new__(cls, value: object) -> Channel:
        if type(value) is cls:
            return value
        if not isinstance(value, str) or _NAME.fullmatch(value) is None:
            raise InvalidInput(
                f"channel must be a short snake_case name such as 'email' or 'sms', got "
                f"{quoted(value)}",
                field="channel",
            )
        return super().__new__(cls, value)

    @property
    def value(self) -> str:
        """The name as plain text."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Channel({str.__repr__(self)})"


Channel.EMAIL = Channel("email")
Channel.SMTP = Channel("smtp")
Channel.SMS = Channel("sms")


def _channels(value: object) -> tuple[Channel, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput("channels must be a list of channel names", field="channels")
    names = tuple(Channel(v) for v in value)
    if len(set(names)) != len(names):
        raise InvalidInput("a channel can be listed only once", field="channels")
    return names


@attrs.frozen
class ChannelCatalog:
    """The channels an application offers, in the host's order (``Settings.channels``)."""

    channels: tuple[Channel, ...] = attrs.field(converter=_channels)

    def __contains__(self, channel: object) -> bool:
        return channel in self.channels

    def __iter__(self) -> Iterator[Channel]:
        return iter(self.channels)

    def __len__(self) -> int:
        return len(self.channels)

    def require(self, channel: object) -> Channel:
        """``channel`` as a ``Channel`` if the catalog offers it; ``InvalidInput`` for a
        malformed name, ``UnknownChannel`` for one the catalog does not hold."""
        name = Channel(channel)
        if name not in self.channels:
            raise UnknownChannel(
                f"channel {quoted(name.value)} is not in this application's channel catalog "
                f"({', '.join(self.channels)})",
                field="channel",
                channel=name.value,
            )
        return name

    def with_channels(self, *channels: str) -> ChannelCatalog:
        """A catalog with the host's own channels added (names must be new)."""
        return ChannelCatalog([*self.channels, *channels])


DEFAULT_CHANNELS: Final = ChannelCatalog([Channel.EMAIL, Channel.SMTP, Channel.SMS])
"""Email, SMTP and SMS: the channels of the seeds."""


MAX_DIMENSIONS: Final = 8
"""The most dimensions one usage record (or charge) may carry."""
_MAX_VALUE: Final = 64


class Dimensions(Mapping[str, str]):
    """An immutable, hashable mapping of dimension names (snake_case, like channel names)
    to non-empty printable text of at most 64 characters; at most ``MAX_DIMENSIONS``.

    ``key`` is its canonical JSON text (keys sorted): what storage groups usage by.

    >>> Dimensions({"country": "DE", "route": "premium"}).key
    '{"country":"DE","route":"premium"}'
    """

    __slots__ = ("_hash", "_items", "_key")

    _items: tuple[tuple[str, str], ...]
    _key: str
    _hash: int

    def __init__(self, value: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        if isinstance(value, Dimensions):
            items = value._items
        else:
            if isinstance(value, str | bytes) or not isinstance(value, Mapping | Iterable):
                raise InvalidInput(
                    "dimensions must be a mapping of names to text", field="dimensions"
                )
            try:
                pairs = dict(value).items()
            except (TypeError, ValueError):
                raise InvalidInput(
                    "dimensions must be a mapping of names to text", field="dimensions"
                ) from None
            if len(pairs) > MAX_DIMENSIONS:
                raise InvalidInput(
                    f"at most {MAX_DIMENSIONS} dimensions, got {len(pairs)}", field="dimensions"
                )
            items = tuple(sorted((_dimension(k), _value(v)) for k, v in pairs))
        object.__setattr__(self, "_items", items)
        key = json.dumps(dict(items), separators=(",", ":"), ensure_ascii=False)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(items))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Dimensions are immutable")

    @classmethod
    def from_key(cls, key: str) -> Dimensions:
        """The dimensions whose ``key`` is ``key`` (storage's text, read back)."""
        try:
            value = json.loads(key)
        except (TypeError, ValueError):
            raise InvalidInput("dimensions text is not JSON", field="dimensions") from None
        if not isinstance(value, dict):
            raise InvalidInput("dimensions text is not a JSON object", field="dimensions")
        return cls(value)

    @property
    def key(self) -> str:
        return self._key

    def __getitem__(self, name: str) -> str:
        for k, v in self._items:
            if k == name:
                return v
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Dimensions):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"Dimensions({dict(self._items)!r})"

    def matches(self, wanted: Mapping[str, str]) -> bool:
        """Whether every dimension of ``wanted`` is here with the same value."""
        mine = dict(self._items)
        return all(mine.get(k) == v for k, v in wanted.items())


NO_DIMENSIONS: Final = Dimensions()


def _dimension(name: object) -> str:
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidInput(
            f"a dimension name is a short snake_case name such as 'country', got {quoted(name)}",
            field="dimensions",
        )
    return name


def _value(value: object) -> str:
    text = _checks.text(value, field="dimensions")
    if len(text) > _MAX_VALUE:
        raise InvalidInput(
            f"a dimension value is at most {_MAX_VALUE} characters", field="dimensions"
        )
    return text


def dimensions(value: object) -> Dimensions:
    """``value`` as ``Dimensions`` (an attrs converter; ``None`` is no dimensions)."""
    if type(value) is Dimensions:
        return value
    if value is None:
        return NO_DIMENSIONS
    return Dimensions(value)  # type: ignore[arg-type]
