//! nmap's XML output, read as a stream: bytes in, hosts out, one at a time, so memory is bounded
//! by the largest host and not by the file. Never touches the database (fuzzed alone).
//!
//! Safety of the reader: a document type with declarations (an internal subset) is refused, and
//! no entity but XML's five and character references is ever expanded. The declaration every
//! nmap writes (`<!DOCTYPE nmaprun>`, and before 7.x one naming nmap's public DTD) declares
//! nothing and is allowed; an external DTD is never fetched or read. A host that makes
//! no sense (no address, a port out of range) is rejected with its line and the reading goes
//! on; malformed XML ends the reading there, after every complete host before it.

use std::io::BufRead;
use std::net::IpAddr;

use quick_xml::events::{BytesStart, Event};

/// Longest text kept of an attribute (names, products, versions); longer values are cut.
const MAX_TEXT: usize = 512;
/// Longest script output kept.
const MAX_SCRIPT: usize = 4096;
/// Most ports one host may carry (all TCP and UDP ports, with room).
const MAX_PORTS: usize = 140_000;
/// Most scripts kept per port, and host names per host.
const MAX_SCRIPTS: usize = 32;
const MAX_NAMES: usize = 32;
/// Deepest nesting accepted (nmap's own output nests about 6 deep).
const MAX_DEPTH: usize = 64;

/// A transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tcp" => Some(Self::Tcp),
            "udp" => Some(Self::Udp),
            "sctp" => Some(Self::Sctp),
            _ => None,
        }
    }
}

/// What nmap says of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortState {
    Open,
    Closed,
    Filtered,
    Unfiltered,
    OpenFiltered,
    ClosedFiltered,
}

impl PortState {
    pub const ALL: [Self; 6] = [
        Self::Open,
        Self::Closed,
        Self::Filtered,
        Self::Unfiltered,
        Self::OpenFiltered,
        Self::ClosedFiltered,
    ];

    /// nmap's own spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Filtered => "filtered",
            Self::Unfiltered => "unfiltered",
            Self::OpenFiltered => "open|filtered",
            Self::ClosedFiltered => "closed|filtered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// One port of a host, as nmap reported it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Port {
    pub protocol: Option<Protocol>,
    pub number: u16,
    pub state: Option<PortState>,
    pub service: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub extra_info: Option<String>,
    pub cpe: Option<String>,
    /// NSE script results: id and output.
    pub scripts: Vec<(String, String)>,
}

/// nmap's best operating-system guess.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsGuess {
    pub name: String,
    pub family: Option<String>,
    pub vendor: Option<String>,
    pub kind: Option<String>,
    pub accuracy: u8,
}

/// One host that was up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The line its `<host>` element starts on.
    pub line: u64,
    pub address: IpAddr,
    pub hostnames: Vec<String>,
    pub os: Option<OsGuess>,
    pub ports: Vec<Port>,
}

/// What the reader found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A complete host that was up.
    Host(Host),
    /// A complete host that was down (nmap lists them with `-v`); nothing to record.
    Down { line: u64 },
    /// A host that makes no sense; the reading went on after it.
    Rejected { line: u64, reason: String },
    /// The reading ended here (malformed or truncated XML, a refused DTD); every host before
    /// it was complete.
    Fatal { line: u64, reason: String },
}

/// What the `<nmaprun>` element says of the run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunInfo {
    pub args: Option<String>,
    pub version: Option<String>,
    /// When nmap started, in seconds since the epoch.
    pub started: Option<i64>,
    /// The ports nmap probed, per protocol (`<scaninfo services=...>`): a port of an up host
    /// that was probed and is not listed as open is not open.
    pub scanned: Vec<(Protocol, Vec<(u16, u16)>)>,
}

impl RunInfo {
    /// Whether `port` of `protocol` was probed.
    pub fn probed(&self, protocol: Protocol, port: u16) -> bool {
        self.scanned.iter().any(|(p, ranges)| {
            *p == protocol && ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port))
        })
    }
}

/// Reads nmap's `services` list (`1-1000,1025,T:80`) into ranges; `None` when it is not one.
pub fn port_ranges(spec: &str) -> Option<Vec<(u16, u16)>> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let part = part.rsplit(':').next()?;
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.parse().ok()?, hi.parse().ok()?),
            None => {
                let p = part.parse().ok()?;
                (p, p)
            }
        };
        if lo > hi {
            return None;
        }
        out.push((lo, hi));
    }
    Some(out)
}

/// Reads hosts one by one from nmap XML.
pub struct NmapReader<R: BufRead> {
    reader: quick_xml::Reader<R>,
    buf: Vec<u8>,
    line: u64,
    depth: usize,
    pub run: RunInfo,
    /// Set once the document ended (well or not).
    done: bool,
    saw_root: bool,
}

/// A host being read.
#[derive(Default)]
struct Partial {
    line: u64,
    up: Option<bool>,
    address: Option<IpAddr>,
    bad_address: Option<String>,
    hostnames: Vec<String>,
    os: Option<OsGuess>,
    ports: Vec<Port>,
    port: Option<Port>,
    in_port_service: bool,
    in_osmatch: bool,
    in_osclass: bool,
    problem: Option<String>,
}

fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    let a = e.try_get_attribute(name).ok().flatten()?;
    let v = a.unescape_value().ok()?;
    let v = v.trim();
    (!v.is_empty()).then(|| cut(v.to_owned(), MAX_TEXT))
}

fn attr_long(e: &BytesStart<'_>, name: &[u8], max: usize) -> Option<String> {
    let a = e.try_get_attribute(name).ok().flatten()?;
    let v = a.unescape_value().ok()?;
    Some(cut(v.into_owned(), max))
}

impl<R: BufRead> NmapReader<R> {
    pub fn new(input: R) -> Self {
        let mut reader = quick_xml::Reader::from_reader(input);
        let config = reader.config_mut();
        // Whitespace stays as text events, so every newline is counted for line numbers.
        config.trim_text(false);
        config.check_end_names = true;
        config.expand_empty_elements = false;
        Self {
            reader,
            buf: Vec::with_capacity(4096),
            line: 1,
            depth: 0,
            run: RunInfo::default(),
            done: false,
            saw_root: false,
        }
    }

    fn fatal(&mut self, reason: impl Into<String>) -> Option<Item> {
        self.done = true;
        Some(Item::Fatal {
            line: self.line,
            reason: reason.into(),
        })
    }

    /// The next host, rejection or fatal error; `None` at the end of the document.
    pub fn next_item(&mut self) -> Option<Item> {
        if self.done {
            return None;
        }
        let mut host: Option<Partial> = None;
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(e) => e,
                Err(e) => {
                    let reason = format!("malformed XML: {e}");
                    return self.fatal(reason);
                }
            };
            // Lines are counted from the bytes each event consumed.
            let newlines = match &event {
                Event::Start(e) | Event::Empty(e) => memchr_count(e.as_ref()),
                Event::End(e) => memchr_count(e.as_ref()),
                Event::Text(e) => memchr_count(e.as_ref()),
                Event::CData(e) => memchr_count(e.as_ref()),
                Event::Comment(e) | Event::DocType(e) => memchr_count(e.as_ref()),
                Event::PI(e) => memchr_count(e.as_ref()),
                Event::Decl(e) => memchr_count(e.as_ref()),
                Event::GeneralRef(_) | Event::Eof => 0,
            };
            let at = self.line;
            match event {
                Event::DocType(text) => {
                    let decl = text.as_ref();
                    if decl.contains(&b'[') {
                        self.line += newlines;
                        return self.fatal(
                            "a document type with declarations is refused (nmap writes \
                             `<!DOCTYPE nmaprun>` and declares nothing)",
                        );
                    }
                }
                Event::GeneralRef(r) => {
                    // Entity references in text (attributes are unescaped on their own, where
                    // an unknown entity makes the value unreadable and it is left out).
                    let known = r.is_char_ref()
                        || matches!(r.as_ref(), b"lt" | b"gt" | b"amp" | b"apos" | b"quot");
                    if !known {
                        let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                        return self.fatal(format!("undeclared entity `&{name};`"));
                    }
                }
                Event::Start(e) => {
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        return self.fatal("elements nested too deep");
                    }
                    if let Some(done) =
                        start(&mut self.run, &mut self.saw_root, &e, &mut host, at, false)
                    {
                        self.line += newlines;
                        return Some(done);
                    }
                }
                Event::Empty(e) => {
                    if let Some(done) =
                        start(&mut self.run, &mut self.saw_root, &e, &mut host, at, true)
                    {
                        self.line += newlines;
                        return Some(done);
                    }
                }
                Event::End(e) => {
                    self.depth = self.depth.saturating_sub(1);
                    let name = e.name();
                    if let Some(h) = host.as_mut() {
                        match name.as_ref() {
                            b"port" => {
                                if let Some(p) = h.port.take() {
                                    if h.ports.len() >= MAX_PORTS {
                                        h.problem = Some(format!(
                                            "more than {MAX_PORTS} ports on one host"
                                        ));
                                    } else {
                                        h.ports.push(p);
                                    }
                                }
                            }
                            b"service" => h.in_port_service = false,
                            b"osmatch" => h.in_osmatch = false,
                            b"osclass" => h.in_osclass = false,
                            b"host" => {
                                self.line += newlines;
                                let finished = host.take();
                                return finished.map(finish);
                            }
                            _ => {}
                        }
                    }
                }
                Event::Text(t) => {
                    // `<cpe>` text inside a port's service or an OS class.
                    if let Some(h) = host.as_mut()
                        && let Ok(text) = t.decode()
                    {
                        let text = text.trim();
                        if text.starts_with("cpe:")
                            && h.in_port_service
                            && let Some(p) = h.port.as_mut()
                            && p.cpe.is_none()
                        {
                            p.cpe = Some(cut(text.to_owned(), MAX_TEXT));
                        }
                    }
                }
                Event::Eof => {
                    self.done = true;
                    if host.is_some() {
                        return Some(Item::Fatal {
                            line: at,
                            reason: "the file ends inside a host (truncated)".into(),
                        });
                    }
                    if !self.saw_root {
                        return Some(Item::Fatal {
                            line: at,
                            reason: "no <nmaprun> element: this is not nmap XML output".into(),
                        });
                    }
                    if self.depth > 0 {
                        return Some(Item::Fatal {
                            line: at,
                            reason: "the file ends before </nmaprun> (truncated)".into(),
                        });
                    }
                    return None;
                }
                Event::CData(_) | Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
            }
            self.line += newlines;
        }
    }
}

/// Handles an opening (or empty) element; returns an item when one is complete.
fn start(
    run: &mut RunInfo,
    saw_root: &mut bool,
    e: &BytesStart<'_>,
    host: &mut Option<Partial>,
    line: u64,
    empty: bool,
) -> Option<Item> {
    let name = e.name();
    let name = name.as_ref();
    if name == b"nmaprun" {
        *saw_root = true;
        *run = RunInfo {
            args: attr_long(e, b"args", 4096),
            version: attr(e, b"version"),
            started: attr(e, b"start").and_then(|s| s.parse().ok()),
            scanned: Vec::new(),
        };
        return None;
    }
    if name == b"scaninfo" {
        let protocol = attr(e, b"protocol").as_deref().and_then(Protocol::parse);
        let ranges = attr_long(e, b"services", 64 * 1024)
            .as_deref()
            .and_then(port_ranges);
        if let (Some(p), Some(r)) = (protocol, ranges)
            && run.scanned.len() < 8
        {
            run.scanned.push((p, r));
        }
        return None;
    }
    if name == b"host" {
        if host.is_some() {
            return Some(Item::Rejected {
                line,
                reason: "a host inside a host".into(),
            });
        }
        *host = Some(Partial {
            line,
            ..Default::default()
        });
        return empty.then(|| host.take().map(finish)).flatten();
    }
    let h = host.as_mut()?;
    match name {
        b"status" => h.up = attr(e, b"state").map(|s| s == "up"),
        b"address" => {
            let kind = attr(e, b"addrtype");
            if matches!(kind.as_deref(), Some("ipv4" | "ipv6") | None)
                && h.address.is_none()
                && let Some(a) = attr(e, b"addr")
            {
                match a.parse::<IpAddr>() {
                    Ok(ip) => h.address = Some(ip),
                    Err(_) => h.bad_address = Some(a),
                }
            }
        }
        b"hostname" => {
            if let Some(n) = attr(e, b"name")
                && h.hostnames.len() < MAX_NAMES
                && !h.hostnames.contains(&n)
            {
                h.hostnames.push(n);
            }
        }
        b"port" => {
            let number = attr(e, b"portid").and_then(|p| p.parse::<u32>().ok());
            let protocol = attr(e, b"protocol");
            match (number, protocol.as_deref().and_then(Protocol::parse)) {
                (Some(n @ 0..=65535), Some(p)) => {
                    h.port = Some(Port {
                        protocol: Some(p),
                        number: n as u16,
                        ..Default::default()
                    });
                }
                _ => {
                    h.problem = Some(format!(
                        "line {line}: a port without a valid number and protocol"
                    ));
                }
            }
            if empty && let Some(p) = h.port.take() {
                h.ports.push(p);
            }
        }
        b"state" => {
            if let Some(p) = h.port.as_mut() {
                p.state = attr(e, b"state").as_deref().and_then(PortState::parse);
            }
        }
        b"service" => {
            if let Some(p) = h.port.as_mut() {
                p.service = attr(e, b"name");
                p.product = attr(e, b"product");
                p.version = attr(e, b"version");
                p.extra_info = attr(e, b"extrainfo");
                h.in_port_service = !empty;
            }
        }
        b"script" => {
            if let Some(p) = h.port.as_mut()
                && p.scripts.len() < MAX_SCRIPTS
                && let Some(id) = attr(e, b"id")
            {
                let output = attr_long(e, b"output", MAX_SCRIPT).unwrap_or_default();
                p.scripts.push((id, output));
            }
        }
        b"osmatch" => {
            let accuracy = attr(e, b"accuracy")
                .and_then(|a| a.parse::<u8>().ok())
                .unwrap_or(0);
            // The first match is nmap's best; keep it.
            if h.os.is_none()
                && let Some(name) = attr(e, b"name")
            {
                h.os = Some(OsGuess {
                    name,
                    accuracy: accuracy.min(100),
                    ..Default::default()
                });
                h.in_osmatch = !empty;
            }
        }
        b"osclass" => {
            if h.in_osmatch
                && let Some(os) = h.os.as_mut()
                && os.family.is_none()
            {
                os.family = attr(e, b"osfamily");
                os.vendor = attr(e, b"vendor");
                os.kind = attr(e, b"type");
                h.in_osclass = !empty;
            }
        }
        _ => {}
    }
    None
}

fn finish(h: Partial) -> Item {
    let line = h.line;
    if h.up == Some(false) {
        return Item::Down { line };
    }
    if let Some(problem) = h.problem {
        return Item::Rejected {
            line,
            reason: problem,
        };
    }
    let Some(address) = h.address else {
        let reason = match h.bad_address {
            Some(a) => format!("`{a}` is not an IP address"),
            None => "a host without an IP address".into(),
        };
        return Item::Rejected { line, reason };
    };
    Item::Host(Host {
        line,
        address,
        hostnames: h.hostnames,
        os: h.os,
        ports: h.ports,
    })
}

fn memchr_count(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// Every item of `input`, for tests and small files.
pub fn read_all(input: &[u8]) -> (RunInfo, Vec<Item>) {
    let mut reader = NmapReader::new(input);
    let mut items = Vec::new();
    while let Some(item) = reader.next_item() {
        items.push(item);
    }
    (reader.run.clone(), items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = include_str!("../../tests/data/nmap/nmap-7.93-os-scripts.xml");
    const OLD: &str = include_str!("../../tests/data/nmap/nmap-6.40-connect.xml");

    #[test]
    fn reads_what_the_real_nmap_wrote() {
        let real = include_str!("../../tests/data/nmap/nmap-7.93-real-loopback.xml");
        let (run, items) = read_all(real.as_bytes());
        assert!(run.probed(Protocol::Tcp, 18081) && !run.probed(Protocol::Tcp, 18080));
        let [Item::Host(h)] = &items[..] else {
            panic!("{items:?}")
        };
        assert_eq!(h.address.to_string(), "127.0.0.1");
        let open = h.ports.iter().find(|p| p.number == 18081).unwrap();
        assert_eq!(open.state, Some(PortState::Open));
        assert_eq!(open.service.as_deref(), Some("http"));
        assert_eq!(open.scripts[0].0, "http-title");
        let closed = h.ports.iter().find(|p| p.number == 18082).unwrap();
        assert_eq!(closed.state, Some(PortState::Closed));
    }

    #[test]
    fn reads_nmap_6_output_with_its_public_dtd_line() {
        let (run, items) = read_all(OLD.as_bytes());
        assert_eq!(run.version.as_deref(), Some("6.40"));
        let Item::Host(first) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(first.hostnames, vec!["db1.example.net".to_owned()]);
        let open: Vec<u16> = first
            .ports
            .iter()
            .filter(|p| p.state == Some(PortState::Open))
            .map(|p| p.number)
            .collect();
        assert_eq!(open, vec![22, 3306]);
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn reads_hosts_ports_os_and_scripts() {
        let (run, items) = read_all(SAMPLE.as_bytes());
        assert_eq!(run.version.as_deref(), Some("7.93"));
        assert!(run.probed(Protocol::Tcp, 1000) && !run.probed(Protocol::Tcp, 1001));
        assert!(run.probed(Protocol::Udp, 53) && !run.probed(Protocol::Udp, 54));
        let hosts: Vec<&Host> = items
            .iter()
            .filter_map(|i| match i {
                Item::Host(h) => Some(h),
                _ => None,
            })
            .collect();
        assert_eq!(hosts.len(), 2, "{items:?}");
        let web = hosts[0];
        assert_eq!(web.address.to_string(), "192.0.2.10");
        assert_eq!(web.hostnames, vec!["web.example.org".to_owned()]);
        let os = web.os.as_ref().unwrap();
        assert_eq!(os.name, "Linux 4.15 - 5.6");
        assert_eq!(os.family.as_deref(), Some("Linux"));
        assert_eq!(os.accuracy, 100);
        let http = web.ports.iter().find(|p| p.number == 80).unwrap();
        assert_eq!(http.protocol, Some(Protocol::Tcp));
        assert_eq!(http.state, Some(PortState::Open));
        assert_eq!(http.product.as_deref(), Some("nginx"));
        assert_eq!(http.version.as_deref(), Some("1.18.0"));
        assert_eq!(http.cpe.as_deref(), Some("cpe:/a:igor_sysoev:nginx:1.18.0"));
        assert_eq!(http.scripts[0].0, "http-title");
        assert!(http.scripts[0].1.contains("Welcome & hello"));
        let dns = web.ports.iter().find(|p| p.number == 53).unwrap();
        assert_eq!(dns.protocol, Some(Protocol::Udp));
        assert_eq!(hosts[1].address.to_string(), "2001:db8::5");
        assert!(items.iter().any(|i| matches!(i, Item::Down { .. })));
    }

    #[test]
    fn a_truncated_file_keeps_the_complete_hosts_and_says_where_it_ends() {
        let cut_at = SAMPLE.find("addr=\"2001:db8::5\"").unwrap();
        let (_, items) = read_all(&SAMPLE.as_bytes()[..cut_at]);
        assert!(
            matches!(items.first(), Some(Item::Host(h)) if h.address.to_string() == "192.0.2.10")
        );
        match items.last() {
            Some(Item::Fatal { line, reason }) => {
                assert!(*line > 10, "{line}");
                assert!(!reason.is_empty());
            }
            other => panic!("expected a fatal error, got {other:?}"),
        }
    }

    #[test]
    fn dtds_with_declarations_and_unknown_entities_are_refused() {
        let bomb = "<?xml version=\"1.0\"?>\n<!DOCTYPE nmaprun [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;\">]>\n<nmaprun><host><address addr=\"&b;\" addrtype=\"ipv4\"/></host></nmaprun>";
        let (_, items) = read_all(bomb.as_bytes());
        assert!(
            matches!(&items[..], [Item::Fatal { line: 2, reason }] if reason.contains("document type")),
            "{items:?}"
        );
        // An external DTD is never read: the document reads as if it were not named.
        let external = "<!DOCTYPE nmaprun SYSTEM \"file:///etc/passwd\"><nmaprun></nmaprun>";
        assert_eq!(read_all(external.as_bytes()).1, vec![]);
        let undeclared = "<nmaprun><host><hostnames>&xxe;</hostnames></host></nmaprun>";
        assert!(matches!(
            &read_all(undeclared.as_bytes()).1[..],
            [Item::Fatal { .. }]
        ));
    }

    #[test]
    fn a_host_without_an_address_is_rejected_and_reading_goes_on() {
        let doc = "<nmaprun>\n<host><status state=\"up\"/></host>\n<host><status state=\"up\"/><address addr=\"10.0.0.1\" addrtype=\"ipv4\"/></host>\n</nmaprun>\n";
        let (_, items) = read_all(doc.as_bytes());
        assert!(
            matches!(&items[0], Item::Rejected { line: 2, .. }),
            "{items:?}"
        );
        assert!(matches!(&items[1], Item::Host(h) if h.line == 3));
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn text_that_is_not_nmap_is_refused() {
        assert!(matches!(&read_all(b"hello").1[..], [Item::Fatal { .. }]));
        assert!(matches!(&read_all(b"").1[..], [Item::Fatal { .. }]));
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let (_, items) = read_all(&bytes);
            prop_assert!(items.len() <= bytes.len() + 1);
        }

        #[test]
        fn mutated_nmap_output_never_panics(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..24)
        ) {
            let mut bytes = SAMPLE.as_bytes().to_vec();
            for (at, byte, op) in edits {
                if bytes.is_empty() { break; }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => { bytes.remove(i); }
                    _ => bytes.insert(i, byte),
                }
            }
            let (_, items) = read_all(&bytes);
            // Whatever happens, at most one fatal error, and only last.
            let fatal = items.iter().filter(|i| matches!(i, Item::Fatal { .. })).count();
            prop_assert!(fatal <= 1);
            if fatal == 1 {
                let last_is_fatal = matches!(items.last(), Some(Item::Fatal { .. }));
                prop_assert!(last_is_fatal);
            }
        }
    }
}
