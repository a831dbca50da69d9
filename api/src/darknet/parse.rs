//! Darknet sensor lines: iptables and ip6tables `LOG` lines as syslog writes them (RFC 3164 or
//! RFC 5424 time stamps), the same lines inside OSSEC alerts (HECTOR's rule 200001 path), and
//! one JSON event per line. Text in, packets out; never touches the database (fuzzed alone).
//!
//! HECTOR had three parsers: one broke on UDP (it cut fields at `WINDOW=`), one refused ICMP
//! (a typo), one lost the time. This one reads fields by name, wherever they are, for TCP,
//! UDP, ICMP, ICMPv6 and any other protocol.

use std::net::IpAddr;

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};

/// Longest line read; longer lines are refused.
pub const MAX_LINE: usize = 4096;

/// The protocol of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// Any other, by its IP protocol number.
    Other(u8),
}

impl Protocol {
    /// The name in `PROTO=` (any case), or the IP protocol number in decimal digits: a number
    /// of a named protocol is that protocol (`6` and `06` are TCP), so one protocol is never
    /// two values.
    pub fn parse(s: &str) -> Option<Self> {
        // Compared in place, any case: once per line, so no upper-cased copy.
        const NAMED: [(&str, Protocol); 4] = [
            ("TCP", Protocol::Tcp),
            ("UDP", Protocol::Udp),
            ("ICMP", Protocol::Icmp),
            ("ICMPV6", Protocol::Icmpv6),
        ];
        if let Some((_, p)) = NAMED.iter().find(|(name, _)| s.eq_ignore_ascii_case(name)) {
            return Some(*p);
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self::of_number(s.parse().ok()?))
    }

    /// The protocol with IP protocol number `n`.
    pub fn of_number(n: u8) -> Self {
        match n {
            6 => Self::Tcp,
            17 => Self::Udp,
            1 => Self::Icmp,
            58 => Self::Icmpv6,
            n => Self::Other(n),
        }
    }

    /// Its IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Icmp => 1,
            Self::Icmpv6 => 58,
            Self::Other(n) => n,
        }
    }

    /// As `PROTO=` writes it.
    pub fn name(self) -> String {
        match self {
            Self::Tcp => "TCP".into(),
            Self::Udp => "UDP".into(),
            Self::Icmp => "ICMP".into(),
            Self::Icmpv6 => "ICMPv6".into(),
            Self::Other(n) => n.to_string(),
        }
    }
}

/// TCP flags, as bits.
pub mod flags {
    pub const FIN: u8 = 1;
    pub const SYN: u8 = 2;
    pub const RST: u8 = 4;
    pub const PSH: u8 = 8;
    pub const ACK: u8 = 16;
    pub const URG: u8 = 32;
    pub const ECE: u8 = 64;
    pub const CWR: u8 = 128;
    pub const NAMES: [(&str, u8); 8] = [
        ("FIN", FIN),
        ("SYN", SYN),
        ("RST", RST),
        ("PSH", PSH),
        ("ACK", ACK),
        ("URG", URG),
        ("ECE", ECE),
        ("CWR", CWR),
    ];
}

/// One packet a sensor logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub at: DateTime<Utc>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: Protocol,
    /// TCP and UDP.
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// ICMP and ICMPv6.
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// TCP flags ([`flags`]).
    pub tcp_flags: u8,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: Option<u8>,
    /// The IP packet's length.
    pub length: Option<u32>,
}

/// What a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Packet(Packet),
    /// Nothing to record: blank, or the frame of an OSSEC alert around a logged line.
    Skip,
}

/// Why a line was refused.
pub type Refusal = String;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A RFC 3164 time (`May 17 14:50:29`, no year) as the most recent such moment not more than a
/// day after `now` (logs arrive late, never much early).
fn rfc3164(month: &str, day: &str, time: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let m = MONTHS.iter().position(|x| *x == month)? as u32 + 1;
    let d: u32 = day.parse().ok()?;
    let year = now.year();
    for y in [year + 1, year, year - 1] {
        let text = format!("{y}-{m:02}-{d:02} {time}");
        if let Ok(naive) = NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S") {
            let at = Utc.from_utc_datetime(&naive);
            if at <= now + chrono::Duration::days(1) {
                return Some(at);
            }
        }
    }
    None
}

/// The time at the start of a syslog line and the rest after it.
fn syslog_time(line: &str, now: DateTime<Utc>) -> Result<(DateTime<Utc>, &str), Refusal> {
    let mut rest = line.trim_start();
    // RFC 5424: `<PRI>1 2026-12-02T14:50:29.1Z host ...`; rsyslog: `2026-12-02T14:50:29+01:00 host ...`.
    if let Some(after) = rest.strip_prefix('<') {
        let end = after.find('>').ok_or("an unclosed `<PRI>`")?;
        if end > 3 || !after[..end].bytes().all(|b| b.is_ascii_digit()) {
            return Err("a bad `<PRI>`".into());
        }
        rest = &after[end + 1..];
        if let Some(after_version) = rest.strip_prefix("1 ") {
            rest = after_version;
        }
    }
    let first = rest.split_whitespace().next().ok_or("an empty line")?;
    if first.len() >= 19 && first.as_bytes().get(4) == Some(&b'-') {
        let at = DateTime::parse_from_rfc3339(first)
            .map_err(|_| format!("`{first}` is not an RFC 3339 time"))?
            .with_timezone(&Utc);
        return Ok((at, rest[first.len()..].trim_start()));
    }
    // RFC 3164: `May 17 14:50:29` (the day may be padded with a space).
    let mut words = rest.split_whitespace();
    let (Some(month), Some(day), Some(time)) = (words.next(), words.next(), words.next()) else {
        return Err("no time stamp".into());
    };
    let at = rfc3164(month, day, time, now)
        .ok_or_else(|| format!("`{month} {day} {time}` is not a syslog time"))?;
    let after_time = rest.find(time).map_or(rest, |i| &rest[i + time.len()..]);
    Ok((at, after_time.trim_start()))
}

/// Reads a `KEY=VALUE` field of the log message (the first one of that name).
fn field<'a>(fields: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn number<T: std::str::FromStr>(fields: &[(&str, &str)], key: &str) -> Result<Option<T>, Refusal> {
    field(fields, key)
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| format!("`{key}={v}` is not a valid number"))
        })
        .transpose()
}

/// Most `KEY=value` fields a line may have (iptables writes about twenty).
const MAX_FIELDS: usize = 64;

/// Reads the `IN=... SRC=... PROTO=...` part of an iptables LOG line at `at`.
fn packet(message: &str, at: DateTime<Utc>) -> Result<Packet, Refusal> {
    let start = message
        .find("IN=")
        .ok_or("not an iptables LOG line (no `IN=`)")?;
    // On the stack: a line's fields are read once per line, millions of lines a minute, and a
    // vector grown field by field cost five allocations a line.
    let mut slots: [(&str, &str); MAX_FIELDS] = [("", ""); MAX_FIELDS];
    let mut count = 0;
    let mut tcp_flags = 0u8;
    for token in message[start..].split_whitespace() {
        match token.split_once('=') {
            Some(kv) => {
                let slot = slots.get_mut(count).ok_or("too many fields")?;
                *slot = kv;
                count += 1;
            }
            None => {
                if let Some((_, bit)) = flags::NAMES.iter().find(|(n, _)| *n == token) {
                    tcp_flags |= bit;
                }
            }
        }
    }
    let fields = &slots[..count];
    let address = |key: &str| -> Result<IpAddr, Refusal> {
        let v = field(fields, key).ok_or_else(|| format!("no `{key}=`"))?;
        v.parse()
            .map_err(|_| format!("`{key}={v}` is not an IP address"))
    };
    let (src, dst) = (address("SRC")?, address("DST")?);
    if src.is_ipv4() != dst.is_ipv4() {
        return Err("`SRC` and `DST` are of different IP versions".into());
    }
    let proto = field(fields, "PROTO").ok_or("no `PROTO=`")?;
    let protocol = Protocol::parse(proto).ok_or_else(|| format!("`PROTO={proto}` is unknown"))?;
    let ttl = match number::<u8>(fields, "TTL")? {
        Some(t) => Some(t),
        None => number::<u8>(fields, "HOPLIMIT")?,
    };
    let mut p = Packet {
        at,
        src,
        dst,
        protocol,
        src_port: None,
        dst_port: None,
        icmp_type: None,
        icmp_code: None,
        tcp_flags: 0,
        ttl,
        length: number(fields, "LEN")?,
    };
    match protocol {
        Protocol::Tcp | Protocol::Udp => {
            p.src_port = Some(number(fields, "SPT")?.ok_or("no `SPT=`")?);
            p.dst_port = Some(number(fields, "DPT")?.ok_or("no `DPT=`")?);
            if protocol == Protocol::Tcp {
                p.tcp_flags = tcp_flags;
            }
        }
        Protocol::Icmp | Protocol::Icmpv6 => {
            p.icmp_type = Some(number(fields, "TYPE")?.ok_or("no `TYPE=`")?);
            p.icmp_code = Some(number(fields, "CODE")?.ok_or("no `CODE=`")?);
        }
        Protocol::Other(_) => {}
    }
    Ok(p)
}

/// Reads one line of a sensor's `text/plain` stream. `now` places RFC 3164 times (which have
/// no year).
pub fn parse_line(line: &str, now: DateTime<Utc>) -> Result<Line, Refusal> {
    if line.len() > MAX_LINE {
        return Err(format!("longer than {MAX_LINE} bytes"));
    }
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Ok(Line::Skip);
    }
    // The frame of an OSSEC alert (`** Alert`, its date and source line, `Rule:`, `Src IP:`,
    // `User:`); the logged line itself follows and is read as any other.
    if trimmed.starts_with("** Alert ")
        || trimmed.starts_with("Rule: ")
        || trimmed.starts_with("Src IP:")
        || trimmed.starts_with("User:")
        || is_ossec_source_line(trimmed)
    {
        return Ok(Line::Skip);
    }
    let (at, rest) = syslog_time(trimmed, now)?;
    packet(rest, at).map(Line::Packet)
}

/// `2011 Feb 14 11:55:59 (agent) 10.0.0.1->/var/log/messages`, the second line of an OSSEC
/// alert.
fn is_ossec_source_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let year = words.next().unwrap_or_default();
    let month = words.next().unwrap_or_default();
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && MONTHS.contains(&month)
        && line.contains("->")
        && !line.contains("IN=")
}

/// One event of a sensor's `application/x-ndjson` stream.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JsonEvent {
    pub time: DateTime<Utc>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: String,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    #[serde(default)]
    pub tcp_flags: Vec<String>,
    pub ttl: Option<u8>,
    pub length: Option<u32>,
}

/// Reads one line of a sensor's `application/x-ndjson` stream.
pub fn parse_json_line(line: &str) -> Result<Line, Refusal> {
    if line.len() > MAX_LINE {
        return Err(format!("longer than {MAX_LINE} bytes"));
    }
    if line.trim().is_empty() {
        return Ok(Line::Skip);
    }
    let e: JsonEvent = serde_json::from_str(line).map_err(|e| format!("not an event: {e}"))?;
    if e.src.is_ipv4() != e.dst.is_ipv4() {
        return Err("`src` and `dst` are of different IP versions".into());
    }
    let protocol = Protocol::parse(&e.protocol)
        .ok_or_else(|| format!("`protocol` {:?} is unknown", e.protocol))?;
    let mut tcp_flags = 0;
    for f in &e.tcp_flags {
        let (_, bit) = flags::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(f))
            .ok_or_else(|| format!("`{f}` is not a TCP flag"))?;
        tcp_flags |= bit;
    }
    let ported = matches!(protocol, Protocol::Tcp | Protocol::Udp);
    let icmp = matches!(protocol, Protocol::Icmp | Protocol::Icmpv6);
    if ported && (e.src_port.is_none() || e.dst_port.is_none()) {
        return Err("TCP and UDP events need `srcPort` and `dstPort`".into());
    }
    if icmp && (e.icmp_type.is_none() || e.icmp_code.is_none()) {
        return Err("ICMP events need `icmpType` and `icmpCode`".into());
    }
    Ok(Line::Packet(Packet {
        at: e.time,
        src: e.src,
        dst: e.dst,
        protocol,
        src_port: e.src_port.filter(|_| ported),
        dst_port: e.dst_port.filter(|_| ported),
        icmp_type: e.icmp_type.filter(|_| icmp),
        icmp_code: e.icmp_code.filter(|_| icmp),
        tcp_flags: if protocol == Protocol::Tcp {
            tcp_flags
        } else {
            0
        },
        ttl: e.ttl,
        length: e.length,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap()
    }

    fn packet_of(line: &str) -> Packet {
        match parse_line(line, now()) {
            Ok(Line::Packet(p)) => p,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn reads_hectors_own_example_line() {
        let p = packet_of(
            "May 17 14:50:29 servername kernel: iptables IN=eth0 OUT= MAC=00:1a:a0:bb:cc:dd:00:11:22:33:44:55:08:00 SRC=201.138.46.66 DST=208.88.12.61 LEN=48 TOS=0x00 PREC=0x00 TTL=114 ID=26624 DF PROTO=TCP SPT=4089 DPT=445 WINDOW=65535 RES=0x00 SYN URGP=0",
        );
        assert_eq!(p.at, Utc.with_ymd_and_hms(2026, 5, 17, 14, 50, 29).unwrap());
        assert_eq!(p.src.to_string(), "201.138.46.66");
        assert_eq!(p.dst.to_string(), "208.88.12.61");
        assert_eq!(p.protocol, Protocol::Tcp);
        assert_eq!((p.src_port, p.dst_port), (Some(4089), Some(445)));
        assert_eq!(p.tcp_flags, flags::SYN);
        assert_eq!((p.ttl, p.length), (Some(114), Some(48)));
    }

    #[test]
    fn reads_udp_without_a_window_field_which_hector_broke_on() {
        let p = packet_of(
            "Dec  1 23:59:59 sensor1 kernel: [123456.789012] iptables IN=eth0 OUT= MAC=00:11 SRC=198.51.100.7 DST=192.0.2.9 LEN=78 TOS=0x00 PREC=0x00 TTL=49 ID=0 DF PROTO=UDP SPT=5353 DPT=161 LEN=58",
        );
        assert_eq!(p.protocol, Protocol::Udp);
        assert_eq!((p.src_port, p.dst_port), (Some(5353), Some(161)));
        assert_eq!(p.length, Some(78), "the IP length, the first LEN=");
        assert_eq!(p.at, Utc.with_ymd_and_hms(2026, 12, 1, 23, 59, 59).unwrap());
        assert_eq!(p.tcp_flags, 0);
    }

    #[test]
    fn reads_icmp_icmpv6_other_protocols_and_rfc5424_times() {
        let icmp = packet_of(
            "<4>1 2026-12-02T10:00:00.5Z sensor kernel - - - iptables IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 LEN=84 TTL=55 PROTO=ICMP TYPE=8 CODE=0 ID=1 SEQ=1",
        );
        assert_eq!(icmp.protocol, Protocol::Icmp);
        assert_eq!((icmp.icmp_type, icmp.icmp_code), (Some(8), Some(0)));
        assert_eq!(icmp.src_port, None);
        assert_eq!(icmp.at.to_rfc3339(), "2026-12-02T10:00:00.500+00:00");
        let v6 = packet_of(
            "2026-12-02T11:00:00+01:00 sensor kernel: ip6tables IN=eth0 OUT= SRC=2001:db8::66 DST=2001:db8:1::1 LEN=104 TC=0 HOPLIMIT=57 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=7 SEQ=1",
        );
        assert_eq!(v6.protocol, Protocol::Icmpv6);
        assert_eq!(v6.ttl, Some(57));
        assert_eq!(v6.at, Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap());
        let gre = packet_of(
            "Nov 30 08:00:00 s kernel: iptables IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 LEN=64 TTL=60 PROTO=47",
        );
        assert_eq!(gre.protocol, Protocol::Other(47));
        // A named protocol by number is that protocol, ports and flags read as its.
        let tcp = packet_of(
            "Nov 30 08:00:00 s kernel: iptables IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 LEN=40 TTL=60 PROTO=06 SPT=40000 DPT=23 WINDOW=1024 SYN URGP=0",
        );
        assert_eq!(tcp.protocol, Protocol::Tcp);
        assert_eq!((tcp.src_port, tcp.dst_port), (Some(40000), Some(23)));
        assert_eq!(tcp.tcp_flags, flags::SYN);
    }

    #[test]
    fn a_year_old_month_is_last_year() {
        let p = packet_of(
            "Dec 31 23:00:00 s kernel: iptables IN=eth0 SRC=203.0.113.5 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=2",
        );
        assert_eq!(p.at.year(), 2025);
    }

    #[test]
    fn the_frame_of_an_ossec_alert_is_skipped_and_its_logged_line_read() {
        let block = "** Alert 1297702559.16083181: - syslog,iptables,\n2011 Feb 14 11:55:59 (sensor1) 10.0.0.5->/var/log/messages\nRule: 200001 (level 3) -> 'Darknet sensor detection for HECTOR.'\nSrc IP: 201.138.46.66\nUser: (none)\nFeb 14 11:55:58 sensor1 kernel: iptables IN=eth0 OUT= SRC=201.138.46.66 DST=208.88.12.61 LEN=40 TTL=240 PROTO=TCP SPT=1 DPT=23 SYN ACK\n\n";
        let lines: Vec<Line> = block
            .lines()
            .map(|l| parse_line(l, now()).unwrap())
            .collect();
        let packets: Vec<&Packet> = lines
            .iter()
            .filter_map(|l| match l {
                Line::Packet(p) => Some(p),
                Line::Skip => None,
            })
            .collect();
        assert_eq!(packets.len(), 1);
        assert_eq!(packets[0].dst_port, Some(23));
        assert_eq!(packets[0].tcp_flags, flags::SYN | flags::ACK);
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, why) in [
            ("hello world", "time"),
            ("May 17 14:50:29 s kernel: something else", "IN="),
            (
                "May 17 14:50:29 s kernel: iptables IN=eth0 SRC=1.2.3.4 PROTO=TCP",
                "DST=",
            ),
            (
                "May 17 14:50:29 s kernel: iptables IN=eth0 SRC=1.2.3.4 DST=1.2.3.999 PROTO=TCP",
                "not an IP",
            ),
            (
                "May 17 14:50:29 s kernel: iptables IN=eth0 SRC=1.2.3.4 DST=::1 PROTO=TCP SPT=1 DPT=2",
                "versions",
            ),
            (
                "May 17 14:50:29 s kernel: iptables IN=eth0 SRC=1.2.3.4 DST=1.2.3.5 PROTO=TCP SPT=1 DPT=99999",
                "DPT",
            ),
            (
                "May 17 14:50:29 s kernel: iptables IN=eth0 SRC=1.2.3.4 DST=1.2.3.5 PROTO=ICMP TYPE=3",
                "CODE",
            ),
            (
                "May 17 14:50:29 s kernel: iptables IN=eth0 SRC=1.2.3.4 DST=1.2.3.5 PROTO=XYZ",
                "unknown",
            ),
            ("Foo 17 14:50:29 s kernel: iptables IN=eth0", "syslog time"),
        ] {
            let err = parse_line(line, now()).unwrap_err();
            assert!(err.contains(why), "{line}: {err}");
        }
        assert!(parse_line(&"x".repeat(MAX_LINE + 1), now()).is_err());
    }

    #[test]
    fn protocols_are_read_by_name_in_any_case_or_by_number() {
        for (text, protocol) in [
            ("TCP", Protocol::Tcp),
            ("tcp", Protocol::Tcp),
            ("6", Protocol::Tcp),
            ("Udp", Protocol::Udp),
            ("17", Protocol::Udp),
            ("ICMP", Protocol::Icmp),
            ("1", Protocol::Icmp),
            ("icmpv6", Protocol::Icmpv6),
            ("58", Protocol::Icmpv6),
            ("06", Protocol::Tcp),
            ("017", Protocol::Udp),
            ("47", Protocol::Other(47)),
            ("047", Protocol::Other(47)),
        ] {
            assert_eq!(Protocol::parse(text), Some(protocol), "{text}");
        }
        for n in 0..=u8::MAX {
            let p = Protocol::of_number(n);
            assert_eq!(p.number(), n);
            assert_eq!(Protocol::parse(&n.to_string()), Some(p));
            assert_eq!(Protocol::parse(&p.name()), Some(p), "{n}");
        }
        for text in ["", "SCTPX", "256", "-1", "+6", " 6", "6 ", "ICMPV"] {
            assert_eq!(Protocol::parse(text), None, "{text}");
        }
    }

    #[test]
    fn a_line_holds_at_most_max_fields_fields() {
        let line = |extra: usize| {
            let padding: Vec<String> = (0..extra).map(|i| format!("X{i}=1")).collect();
            format!(
                "May 17 14:50:29 s kernel: iptables IN=eth0 SRC=1.2.3.4 DST=1.2.3.5 PROTO=TCP SPT=1 DPT=2 {}",
                padding.join(" ")
            )
        };
        // Six fields of its own.
        let full = packet_of(&line(MAX_FIELDS - 6));
        assert_eq!(full.dst_port, Some(2));
        let err = parse_line(&line(MAX_FIELDS - 5), now()).unwrap_err();
        assert!(err.contains("too many fields"), "{err}");
    }

    #[test]
    fn json_events_are_read_and_checked() {
        let line = r#"{"time":"2026-12-02T10:00:00Z","src":"203.0.113.5","dst":"192.0.2.1","protocol":"tcp","srcPort":4000,"dstPort":22,"tcpFlags":["SYN"],"ttl":50,"length":60}"#;
        let Ok(Line::Packet(p)) = parse_json_line(line) else {
            panic!("{line}")
        };
        assert_eq!(
            (p.protocol, p.dst_port, p.tcp_flags),
            (Protocol::Tcp, Some(22), flags::SYN)
        );
        assert!(parse_json_line(r#"{"time":"2026-12-02T10:00:00Z","src":"203.0.113.5","dst":"192.0.2.1","protocol":"udp"}"#).is_err());
        assert!(parse_json_line(r#"{"time":"x"}"#).is_err());
        assert!(parse_json_line(r#"{"time":"2026-12-02T10:00:00Z","src":"203.0.113.5","dst":"192.0.2.1","protocol":"icmp","icmpType":8,"icmpCode":0,"extra":1}"#).is_err());
    }

    fn arb_packet() -> impl Strategy<Value = (bool, u8, u16, u16, u8, u8, u8, u8)> {
        (
            any::<bool>(),
            0u8..5,
            any::<u16>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_text_never_panics(line in "\\PC{0,300}") {
            let _ = parse_line(&line, now());
            let _ = parse_json_line(&line);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let line = String::from_utf8_lossy(&bytes);
            let _ = parse_line(&line, now());
            let _ = parse_json_line(&line);
        }

        #[test]
        fn mutated_lines_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<char>(), 0u8..3), 1..12)
        ) {
            let mut line: Vec<char> = "May 17 14:50:29 servername kernel: iptables IN=eth0 OUT= SRC=201.138.46.66 DST=208.88.12.61 LEN=48 TTL=114 PROTO=TCP SPT=4089 DPT=445 WINDOW=65535 SYN URGP=0".chars().collect();
            for (at, c, op) in edits {
                if line.is_empty() { break; }
                let i = at.index(line.len());
                match op {
                    0 => line[i] = c,
                    1 => { line.remove(i); }
                    _ => line.insert(i, c),
                }
            }
            let text: String = line.into_iter().collect();
            let _ = parse_line(&text, now());
        }

        #[test]
        fn what_iptables_writes_reads_back((v6, proto, spt, dpt, ty, code, ttl, fl) in arb_packet()) {
            let protocol = [Protocol::Tcp, Protocol::Udp, Protocol::Icmp, Protocol::Icmpv6, Protocol::Other(47)][proto as usize];
            let (src, dst) = if v6 { ("2001:db8::1", "2001:db8::2") } else { ("203.0.113.1", "192.0.2.2") };
            let tail = match protocol {
                Protocol::Tcp => {
                    let names: Vec<&str> = flags::NAMES.iter().filter(|(_, b)| fl & b != 0).map(|(n, _)| *n).collect();
                    format!("SPT={spt} DPT={dpt} WINDOW=1024 RES=0x00 {} URGP=0", names.join(" "))
                }
                Protocol::Udp => format!("SPT={spt} DPT={dpt} LEN=20"),
                Protocol::Icmp | Protocol::Icmpv6 => format!("TYPE={ty} CODE={code} ID=1 SEQ=2"),
                Protocol::Other(_) => String::new(),
            };
            let ttl_field = if v6 { format!("HOPLIMIT={ttl}") } else { format!("TTL={ttl}") };
            let line = format!("Nov 30 08:00:00 s kernel: iptables IN=eth0 OUT= SRC={src} DST={dst} LEN=60 {ttl_field} PROTO={} {tail}", protocol.name());
            let Ok(Line::Packet(p)) = parse_line(&line, now()) else { panic!("{line}") };
            prop_assert_eq!(p.protocol, protocol);
            prop_assert_eq!(p.ttl, Some(ttl));
            match protocol {
                Protocol::Tcp => { prop_assert_eq!((p.src_port, p.dst_port, p.tcp_flags), (Some(spt), Some(dpt), fl)); }
                Protocol::Udp => { prop_assert_eq!((p.src_port, p.dst_port), (Some(spt), Some(dpt))); }
                Protocol::Icmp | Protocol::Icmpv6 => { prop_assert_eq!((p.icmp_type, p.icmp_code), (Some(ty), Some(code))); }
                Protocol::Other(_) => { prop_assert_eq!(p.src_port, None); }
            }
        }
    }
}
