"""IHE PCD-04 ORU^R40 (HL7 v2.6, IHE ACM) encoding of a simulated monitor's alarms.

One message per alarm update (start, continue, end). OBR-3 is the alarm's own id, the
same in every message about one alarm, so a receiver ties the updates together; OBR-4 is
``MDC_EVT_ALARM``. The alarm's facets are OBX rows sharing the sub-id prefix of the
parameter (or channel) that alarmed, with a fifth level numbering the facet::

    .1  event id     physiological: the event code (MDC_EVT_LO …), its text in OBX-5 (ST);
                     technical: MDC_EVT_ALARM with the event as a CWE in OBX-5
    .2  source       MDC_ATTR_ALERT_SOURCE: the parameter or channel (CWE)
    .3  phase        MDC_ATTR_EVENT_PHASE: start | continue | end
    .4  state        MDC_ATTR_ALARM_STATE: active | inactive
    .5  inactivation MDC_ATTR_ALARM_INACTIVATION_STATE: enabled
    .6  priority     MDC_ATTR_ALARM_PRIORITY: PH | PM | PL
    .7  type         MDC_ATTR_ALERT_TYPE: SP | ST | SA
    .8  value        the parameter's value, its limits in OBX-7 (limit alarms only)

Templates, like :mod:`simulators.pcd01`, for the same reason; this module must not decide
when an alarm starts or ends (:mod:`simulators.alarms` does).
"""

from __future__ import annotations

from adapters.hl7.er7 import escape
from simulators.alarms import EVT_ALARM, UNITS, AlarmUpdate
from simulators.pcd01 import NS_PER_S, BedProfile, DeviceProfile, _fixed_parts, _header, format_time

_PROFILE = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4.1^ISO"
_OBR4 = "196616^MDC_EVT_ALARM^MDC"


def _limits(limits: tuple[float | None, float | None] | None) -> str:
    if limits is None:
        return ""
    low, high = limits
    if low is not None and high is not None:
        return f"{low:g}-{high:g}"
    if low is not None:
        return f">{low:g}"
    return "" if high is None else f"<{high:g}"


def encode_oru_r40(
    alarm: AlarmUpdate,
    *,
    device: DeviceProfile,
    bed: BedProfile,
    control_id: str,
    now_ns: int,
    sender: DeviceProfile | None = None,
) -> bytes:
    """One PCD-04 report of ``alarm``, unframed, UTF-8, CR after each segment."""
    msh3, patient, _, _ = _fixed_parts(device, bed, sender)
    now = format_time(now_ns // NS_PER_S)
    cid = escape(control_id)
    name = escape(device.name)
    equipment = f"{device.eui64}^{name}^{device.eui64}^EUI-64"
    p = f"{alarm.source_sub_id}."
    text = escape(alarm.text)
    if alarm.technical:
        event = (
            f"OBX|1|CWE|{EVT_ALARM.cwe()}|{p}1|{alarm.event.cwe()}^^^^^^{text}"
            f"||||||F|||{now}||||{equipment}\r"
        )
    else:
        event = (
            f"OBX|1|ST|{alarm.event.cwe()}|{p}1|{text}||{_limits(alarm.limits)}"
            f"||||F|||{now}||||{equipment}\r"
        )
    rows = (
        f"{_header('ORU^R40^ORU_R40', msh3, now, cid, _PROFILE)}"
        f"{patient}"
        f"OBR|1||{escape(alarm.alarm_id)}^{msh3}|{_OBR4}|||{now}\r"
        f"{event}"
        f"OBX|2|CWE|68480^MDC_ATTR_ALERT_SOURCE^MDC|{p}2|{alarm.source.cwe()}||||||F\r"
        f"OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|{p}3|{alarm.phase}||||||F\r"
        f"OBX|4|ST|68482^MDC_ATTR_ALARM_STATE^MDC|{p}4|{alarm.state}||||||F\r"
        f"OBX|5|ST|68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC|{p}5|{alarm.inactivation}"
        f"||||||F\r"
        f"OBX|6|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|{p}6|{alarm.priority}||||||F\r"
        f"OBX|7|ST|68485^MDC_ATTR_ALERT_TYPE^MDC|{p}7|{alarm.kind}||||||F\r"
    )
    unit = UNITS.get(alarm.source.code)
    if alarm.value is not None and unit is not None:
        rows += (
            f"OBX|8|NM|{alarm.source.cwe()}|{p}8|{alarm.value:g}|{unit}"
            f"|{_limits(alarm.limits)}||||F|||{now}\r"
        )
    return rows.encode()
