"""Card, device, network and email identities of every payment (schema 4), and the issuer's answer.

Drawn from the merchant's own ``signals`` stream (merchant.PARTS), after every
other part: the rows and values of every other table are exactly those drawn
without this module (tests/test_fraud_signals.py compares them).

What is planted, consistently with fraud.py / payments.py:
- legitimate customers reuse their cards (1-3, the first most), their devices
  (one per device type, sometimes a new one), their home /24 network (a mobile
  one on phones) and the domain of their one email address; guests are new
  each order; a travelling customer's foreign card is a card of its own;
- ``velocity``: one card, one device and one email domain for the whole group,
  one /24 per IP country the group shows;
- ``card_testing``: a burst on one device, a new card on each attempt (65% of
  bursts, declined as invalid number, do not honor...) or one card tried from
  rotating devices (CVC and expiry guessing); email domains of fraud are often
  disposable;
- ``country_mismatch`` on a taken-over account keeps the account's email domain
  but brings the fraudster's card, device and network.
Identities are keyed hashes (16 hex digits, prefixed ``fp_`` / ``dev_``, the ninth
always a letter): never a card number, nor 13 digits in a row that a scanner could mistake for one.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data.generator.fraud import CARD_TESTING, MISMATCH
from data.generator.orders import CHANNELS
from data.generator.payments import STATUSES
from data.tables import AUTH_RESULTS

STORE = CHANNELS.index("store")
MOBILE = 1  # payments.DEVICES index of `mobile`
# The issuer's answers (outages.py adds the processor's failure, the vocabulary's last value).
APPROVED, INSUFFICIENT, DO_NOT_HONOR, CVC, EXPIRED, INVALID_NUMBER, SUSPECTED, OTHER = range(
    AUTH_RESULTS.index("declined_other") + 1)
# Why declines happen: a legitimate buyer mostly lacks funds; a tester's list holds dead and wrong numbers.
LEGIT_DECLINES = ((INSUFFICIENT, DO_NOT_HONOR, EXPIRED, CVC, OTHER), (0.5, 0.25, 0.1, 0.1, 0.05))
MANY_CARDS_DECLINES = ((INVALID_NUMBER, DO_NOT_HONOR, SUSPECTED, EXPIRED), (0.4, 0.3, 0.15, 0.15))
ONE_CARD_DECLINES = ((CVC, EXPIRED, SUSPECTED), (0.6, 0.25, 0.15))
MANY_CARDS_SHARE = 0.65  # card-testing bursts trying a new card each attempt (the rest: one card, many devices)
NEW_DEVICE_PROB = 0.07  # a known customer paying from a device not seen before
MOBILE_NETWORK_PROB = 0.6  # a phone payment from the carrier's network rather than home

GLOBAL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com")
GLOBAL_WEIGHTS = (0.45, 0.2, 0.15, 0.12, 0.08)
LOCAL_DOMAINS = {"GB": ("btinternet.com", "sky.com", "virginmedia.com"), "DE": ("gmx.de", "web.de", "t-online.de"),
                 "US": ("aol.com", "comcast.net", "att.net"), "FR": ("orange.fr", "free.fr", "laposte.net")}
DISPOSABLE_DOMAINS = ("mailinator.com", "guerrillamail.com", "yopmail.com", "10minutemail.com")
LOCAL_SHARE = 0.3
DISPOSABLE_SHARE = 0.6  # fraud identities on a throwaway address

# First octets of public unicast IPv4 space (no 0, 10, 127, 169, 172, 192, 224+): a country's networks sit in a few.
PUBLIC_OCTETS = np.array([o for o in range(1, 224) if o not in (10, 100, 127, 169, 172, 192, 198, 203)],
                         dtype=np.int64)

# Kinds of identity, so that one customer's card and the same customer's device never share a key.
(CARD_OWN, CARD_FOREIGN, CARD_GUEST, CARD_FRAUD, CARD_TESTED, DEV_OWN, DEV_ONCE, DEV_FRAUD, NET_HOME, NET_ONCE,
 NET_FRAUD) = range(1, 12)


@dataclass
class Signals:
    card: pa.Array  # card_fingerprint strings (null: not a card)
    device: pa.Array
    ip_prefix: pa.Array
    email_codes: np.ndarray  # index into email_labels, -1 null
    email_labels: list[str]
    auth: np.ndarray  # index into AUTH_RESULTS


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: distinct keys give distinct, evenly spread 64-bit values."""
    x = x.astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _key(kind: int | np.ndarray, a: np.ndarray, b: np.ndarray | int = 0) -> np.ndarray:
    """(kind: 4 bits, a: 36 bits, b: 24 bits) packed into one 64-bit key."""
    kind = np.asarray(kind, dtype=np.uint64)
    return ((kind << np.uint64(60)) | (np.asarray(a).astype(np.uint64) << np.uint64(24))
            | np.asarray(b).astype(np.uint64))


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex_ids(prefix: str, hashed: np.ndarray, null: np.ndarray) -> pa.Array:
    """``prefix`` + 16 lower-case hex digits per value, built as one Arrow buffer (fast for millions)."""
    n, p = len(hashed), prefix.encode()
    width = len(p) + 16
    chars = np.empty((n, width), dtype=np.uint8)
    chars[:, :len(p)] = np.frombuffer(p, dtype=np.uint8)
    for j in range(16):  # one digit at a time: a (rows x 16) array of 64-bit nibbles would be 128 bytes a row
        nibble = ((hashed >> np.uint64(60 - 4 * j)) & np.uint64(0xF)).astype(np.uint8)
        if j == 8:  # a letter mid-way: never a run of 13 digits (a card-number look-alike)
            nibble = 10 + nibble % 6
        chars[:, len(p) + j] = _HEX[nibble]
    offsets = np.arange(n + 1, dtype=np.int32) * width
    validity = pa.array(~null).buffers()[1] if null.any() else None
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()), validity,
                                       int(null.sum()))


def _ip_prefixes(country: np.ndarray, labels: list[str], hashed: np.ndarray) -> pa.Array:
    """``a.b.c.0/24`` with the first octet one of four picked by the country, b and c from the hash."""
    base = np.array([zlib.crc32(c.encode()) for c in labels] or [0], dtype=np.int64)
    first = PUBLIC_OCTETS[(base[np.maximum(country, 0)] + 37 * (hashed & np.uint64(3)).astype(np.int64))
                          % len(PUBLIC_OCTETS)]
    second = ((hashed >> np.uint64(8)) & np.uint64(0xFF)).astype(np.int64)
    third = ((hashed >> np.uint64(16)) & np.uint64(0xFF)).astype(np.int64)
    null = country < 0
    parts = [pc.cast(pa.array(x, mask=null), pa.string()) for x in (first, second, third)]
    return pc.binary_join_element_wise(*parts, pa.scalar("0/24"), ".")


def _pick(rng: np.random.Generator, n: int, choices: tuple) -> np.ndarray:
    values, weights = choices
    return np.asarray(values, dtype=np.int8)[rng.choice(len(values), size=n, p=weights)]


def build_signals(o, pay, cust_country: np.ndarray, countries: list[str], merchant_country: str,
                  rng: np.random.Generator) -> Signals:
    """Identities and auth results of ``pay`` (payments.build_payments of the orders ``o``)."""
    n, n_orders, n_cust = len(pay), len(o.ts_us), len(cust_country)
    salt = np.uint64(rng.integers(0, 2**63))
    oi = pay.order
    cust, pat, grp = o.customer[oi], pay.pattern, o.group[oi]
    known, fraud = cust >= 0, pat >= 0
    legit_known = known & ~fraud
    ci = np.maximum(cust, 0)
    home = np.where(known, cust_country[ci] if n_cust else 0, -2)
    idx = np.arange(n, dtype=np.int64)
    n_groups = int(o.group.max()) + 2 if n_orders else 1
    takeover = (pat == MISMATCH) & known

    # Draws, all made unconditionally in one fixed order (determinism does not depend on the data's shape).
    n_cards = 1 + (rng.random(n_cust) < 0.3) + (rng.random(n_cust) < 0.05)
    locals_ = LOCAL_DOMAINS.get(merchant_country, ())
    labels = [*GLOBAL_DOMAINS, *locals_, *DISPOSABLE_DOMAINS]
    n_global, n_local = len(GLOBAL_DOMAINS), len(locals_)

    def draw_domains(k: int) -> np.ndarray:
        out = rng.choice(n_global, size=k, p=GLOBAL_WEIGHTS)
        if n_local:
            local = rng.random(k) < LOCAL_SHARE
            out = np.where(local, n_global + rng.integers(0, n_local, size=k), out)
        return out.astype(np.int16)

    cust_domain = draw_domains(n_cust)
    order_domain = draw_domains(n_orders)  # guests: one address per order (its retries share it)
    group_domain = np.where(rng.random(n_groups) < DISPOSABLE_SHARE,
                            n_global + n_local + rng.integers(0, len(DISPOSABLE_DOMAINS), size=n_groups),
                            draw_domains(n_groups)).astype(np.int16)
    many_cards = rng.random(n_groups) < MANY_CARDS_SHARE
    u_card, u_dev, u_net = rng.random(n), rng.random(n), rng.random(n)
    legit_decline = _pick(rng, n, LEGIT_DECLINES)
    many_decline = _pick(rng, n, MANY_CARDS_DECLINES)
    one_decline = _pick(rng, n, ONE_CARD_DECLINES)

    # Cards.
    slot = np.where(u_card < 0.8, 0, np.where(u_card < 0.95, 1, 2)) % n_cards[ci] if n_cust else np.zeros(n, int)
    card_key = np.where(pay.card_country == home, _key(CARD_OWN, ci, slot),
                        _key(CARD_FOREIGN, ci, np.maximum(pay.card_country, 0)))
    card_key = np.where(known, card_key, _key(CARD_GUEST, oi))
    tested = fraud & (pat == CARD_TESTING)
    card_key = np.where(fraud, np.where(tested & many_cards[grp], _key(CARD_TESTED, idx), _key(CARD_FRAUD, grp)),
                        card_key)
    card = hex_ids("fp_", _mix(card_key ^ salt), pay.card_country < 0)

    # Devices (a till is not the buyer's device).
    dev_key = np.where(legit_known & (u_dev >= NEW_DEVICE_PROB), _key(DEV_OWN, ci, pay.device), _key(DEV_ONCE, oi))
    dev_key = np.where(fraud, np.where(tested & ~many_cards[grp], _key(DEV_ONCE, oi), _key(DEV_FRAUD, grp)),
                       dev_key)
    in_store = o.channel[oi] == STORE
    device = hex_ids("dev_", _mix(dev_key ^ salt), in_store)

    # Networks: /24 prefixes in the IP's country.
    at_home = legit_known & (pay.ip_country == home)
    carrier = (pay.device == MOBILE) & (u_net < MOBILE_NETWORK_PROB)
    net_key = np.where(at_home, _key(NET_HOME, ci, carrier), _key(NET_ONCE, oi))
    net_key = np.where(fraud, _key(NET_FRAUD, grp, np.maximum(pay.ip_country, 0)), net_key)
    ip_prefix = _ip_prefixes(pay.ip_country, countries, _mix(net_key ^ salt))

    # Email domains: the account's, a guest's own, or the fraudster's (a taken-over account keeps its address).
    email = np.where(known, cust_domain[ci] if n_cust else -1, np.where(in_store, -1, order_domain[oi]))
    email = np.where(fraud & ~takeover, group_domain[grp], email).astype(np.int16)

    declined = pay.status == STATUSES.index("declined")
    reason = np.where(tested, np.where(many_cards[grp], many_decline, one_decline), legit_decline)
    auth = np.where(declined, reason, APPROVED).astype(np.int8)
    return Signals(card, device, ip_prefix, email, labels, auth)
