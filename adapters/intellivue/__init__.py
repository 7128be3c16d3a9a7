"""Philips IntelliVue Data Export: the bedside monitors read with no central station.

The monitor speaks a Philips profile of IEEE 11073-20101 (session and presentation SPDUs,
ROSE, CMIP) over UDP on its LAN port or framed on its MIB/RS-232 port. The package reads
in the order the bytes flow:

``wire``       the primitive types: big-endian integers, FLOAT, BCD and relative time, text
``ids``        the numbers of the protocol: SPDUs, operations, classes, attributes, states
``pdu``        a datagram → a typed message (total: any bytes give a message or DecodeError);
               the client's requests → bytes
``linked``     a reply split over several linked results, put back together
``mapping``    poll results → the domain's observations, waves and alarms
``session``    one association with one monitor, as a state machine with no I/O
``lan``        the UDP side: Connect Indications, one session per monitor, the hub
``mib``        the RS-232 framing (0xC0/0xC1, transparency, FCS-16) and its reader

Read-only: the client sends only the association, the MDS Create result, polls, keep-alive
polls and the release (``session.SENDS`` lists them; a test holds it to that).
"""
