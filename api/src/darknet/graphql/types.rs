//! The darknet's GraphQL objects: sensors, events, and the answers of the analytics.

use async_graphql::{Enum, ID, Object, SimpleObject};
use entity::{darknet_event, darknet_source, sensor};

use crate::darknet::parse::{Protocol, flags};
use crate::darknet::read::{self, PortCount, ProtocolSel, Series, SeriesKey};
use crate::darknet::sensor as sensors;
use crate::darknet::sources;
use crate::graphql::node;
use crate::graphql::scalars::DateTime;

/// A darknet sensor: it watches unused address space and sends what it sees.
#[derive(Clone)]
pub struct Sensor(pub sensor::Model);

impl From<sensor::Model> for Sensor {
    fn from(m: sensor::Model) -> Self {
        Self(m)
    }
}

/// A darknet sensor: it watches unused address space and sends what it sees.
#[Object]
impl Sensor {
    /// Its global id (`?sensorId=` of `POST /ingest/darknet` for admins).
    pub async fn id(&self) -> ID {
        node::encode("Sensor", self.0.id)
    }

    /// Its name, unique.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The networks it watches (CIDRs).
    async fn networks(&self) -> Vec<String> {
        sensors::networks_of(&self.0)
    }

    /// Where it is.
    async fn location(&self) -> Option<&str> {
        self.0.location.as_deref()
    }

    /// Whether its lines are accepted (a disabled sensor's are refused).
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// The time of the newest event it sent.
    async fn last_seen_at(&self) -> Option<DateTime> {
        self.0.last_seen_at.map(DateTime)
    }

    /// Events it has sent, in all.
    async fn events(&self) -> i64 {
        self.0.events
    }

    /// When it was added.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it was last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

/// The protocol of a packet.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum DarknetProtocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1).
    Icmp,
    /// ICMPv6 (58).
    #[graphql(name = "ICMPV6")]
    Icmpv6,
    /// Any other; see `protocolNumber`.
    Other,
}

impl DarknetProtocol {
    pub fn of(number: i16) -> Self {
        match u8::try_from(number).map(Protocol::of_number) {
            Ok(Protocol::Tcp) => Self::Tcp,
            Ok(Protocol::Udp) => Self::Udp,
            Ok(Protocol::Icmp) => Self::Icmp,
            Ok(Protocol::Icmpv6) => Self::Icmpv6,
            Ok(Protocol::Other(_)) | Err(_) => Self::Other,
        }
    }

    pub fn selection(self) -> ProtocolSel {
        let is = |p: Protocol| ProtocolSel::Is(p.number().into());
        match self {
            Self::Tcp => is(Protocol::Tcp),
            Self::Udp => is(Protocol::Udp),
            Self::Icmp => is(Protocol::Icmp),
            Self::Icmpv6 => is(Protocol::Icmpv6),
            Self::Other => ProtocolSel::Other,
        }
    }
}

/// A TCP flag.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum TcpFlag {
    /// FIN.
    Fin,
    /// SYN.
    Syn,
    /// RST.
    Rst,
    /// PSH.
    Psh,
    /// ACK.
    Ack,
    /// URG.
    Urg,
    /// ECE.
    Ece,
    /// CWR.
    Cwr,
}

const TCP_FLAGS: [(TcpFlag, u8); 8] = [
    (TcpFlag::Fin, flags::FIN),
    (TcpFlag::Syn, flags::SYN),
    (TcpFlag::Rst, flags::RST),
    (TcpFlag::Psh, flags::PSH),
    (TcpFlag::Ack, flags::ACK),
    (TcpFlag::Urg, flags::URG),
    (TcpFlag::Ece, flags::ECE),
    (TcpFlag::Cwr, flags::CWR),
];

/// One packet a sensor logged.
#[derive(Clone)]
pub struct DarknetEvent(pub darknet_event::Model);

impl From<darknet_event::Model> for DarknetEvent {
    fn from(m: darknet_event::Model) -> Self {
        Self(m)
    }
}

/// One packet a sensor logged.
#[Object]
impl DarknetEvent {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("DarknetEvent", self.0.id)
    }

    /// When the sensor logged it.
    async fn seen_at(&self) -> DateTime {
        DateTime(self.0.seen_at)
    }

    /// The sensor that logged it.
    async fn sensor_id(&self) -> ID {
        node::encode("Sensor", self.0.sensor_id)
    }

    /// The sending address (IPv4 or IPv6).
    async fn source(&self) -> String {
        read::address(&self.0.src)
    }

    /// The address it was sent to (in the sensor's networks).
    async fn destination(&self) -> String {
        read::address(&self.0.dst)
    }

    /// Its protocol.
    async fn protocol(&self) -> DarknetProtocol {
        DarknetProtocol::of(self.0.protocol)
    }

    /// Its IP protocol number.
    async fn protocol_number(&self) -> i32 {
        i32::from(self.0.protocol)
    }

    /// TCP and UDP: the source port.
    async fn source_port(&self) -> Option<i32> {
        self.0.src_port
    }

    /// TCP and UDP: the destination port.
    async fn destination_port(&self) -> Option<i32> {
        self.0.dst_port
    }

    /// ICMP and ICMPv6: the message type.
    async fn icmp_type(&self) -> Option<i32> {
        self.0.icmp_type.map(i32::from)
    }

    /// ICMP and ICMPv6: the message code.
    async fn icmp_code(&self) -> Option<i32> {
        self.0.icmp_code.map(i32::from)
    }

    /// TCP: the flags set.
    async fn tcp_flags(&self) -> Vec<TcpFlag> {
        let bits = self.0.tcp_flags as u8;
        TCP_FLAGS
            .iter()
            .filter(|(_, bit)| bits & bit != 0)
            .map(|(f, _)| *f)
            .collect()
    }

    /// TTL (IPv4) or hop limit (IPv6).
    async fn ttl(&self) -> Option<i32> {
        self.0.ttl.map(i32::from)
    }

    /// The IP packet's length in bytes.
    async fn length(&self) -> Option<i32> {
        self.0.length
    }

    /// The source's country (ISO 3166-1 alpha-2), when a GeoIP database knows it.
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }

    /// The source's autonomous system number, when a GeoIP database knows it.
    async fn asn(&self) -> Option<i64> {
        self.0.asn
    }
}

fn share(events: i64, total: i64) -> f64 {
    if total > 0 {
        events as f64 / total as f64
    } else {
        0.0
    }
}

/// Events to one destination port of one protocol.
#[derive(SimpleObject, Clone)]
pub struct DarknetPortCount {
    /// The protocol.
    pub protocol: DarknetProtocol,
    /// Its IP protocol number.
    pub protocol_number: i32,
    /// The destination port; null for protocols without ports.
    pub port: Option<i32>,
    /// Events.
    pub events: i64,
    /// Their share of the total asked about (0 to 1).
    pub share: f64,
}

impl DarknetPortCount {
    pub fn new(p: &PortCount, total: i64) -> Self {
        Self {
            protocol: DarknetProtocol::of(p.protocol),
            protocol_number: i32::from(p.protocol),
            port: (p.port >= 0).then_some(p.port),
            events: p.events,
            share: share(p.events, total),
        }
    }
}

/// Events from one country.
#[derive(SimpleObject, Clone)]
pub struct DarknetCountryCount {
    /// ISO 3166-1 alpha-2; null for sources no GeoIP database knows.
    pub country: Option<String>,
    /// Events.
    pub events: i64,
    /// Their share of the total asked about (0 to 1).
    pub share: f64,
}

/// Events from one source address in a window, with what is known of it.
#[derive(SimpleObject, Clone)]
pub struct DarknetSourceCount {
    /// The address.
    pub address: String,
    /// Events in the window.
    pub events: i64,
    /// Their share of the total asked about (0 to 1).
    pub share: f64,
    /// Its first event ever.
    pub first_seen: DateTime,
    /// Its newest event.
    pub last_seen: DateTime,
    /// Its country, when known.
    pub country: Option<String>,
    /// Its AS number, when known.
    pub asn: Option<i64>,
}

impl DarknetSourceCount {
    pub fn new(s: &darknet_source::Model, events: i64, total: i64) -> Self {
        Self {
            address: read::address(&s.src),
            events,
            share: share(events, total),
            first_seen: DateTime(s.first_seen),
            last_seen: DateTime(s.last_seen),
            country: s.country.clone(),
            asn: s.asn,
        }
    }
}

/// The busiest destination ports in a window.
#[derive(SimpleObject)]
pub struct DarknetTopPorts {
    /// The window's start (rounded down to its hour).
    pub from: DateTime,
    /// The window's end (rounded up to its hour).
    pub to: DateTime,
    /// Events in the window (under the same filters).
    pub total: i64,
    /// The ports, busiest first.
    pub ports: Vec<DarknetPortCount>,
}

/// The countries most events came from in a window.
#[derive(SimpleObject)]
pub struct DarknetTopCountries {
    /// The window's start (rounded down to its hour).
    pub from: DateTime,
    /// The window's end (rounded up to its hour).
    pub to: DateTime,
    /// Events in the window (under the same filters).
    pub total: i64,
    /// The countries, busiest first.
    pub countries: Vec<DarknetCountryCount>,
}

/// The busiest sources in a window.
#[derive(SimpleObject)]
pub struct DarknetTopSources {
    /// The window's start (rounded down to its hour).
    pub from: DateTime,
    /// The window's end (rounded up to its hour).
    pub to: DateTime,
    /// Events in the window (under the same filters).
    pub total: i64,
    /// The sources, busiest first.
    pub sources: Vec<DarknetSourceCount>,
}

/// The width of a time series' points.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::darknet::read::Bucket")]
pub enum DarknetBucket {
    /// One point per hour.
    Hour,
    /// One point per day (UTC).
    Day,
}

/// What a time series is split by.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::darknet::read::GroupBy")]
pub enum DarknetGroupBy {
    /// One series of everything.
    Nothing,
    /// One series per protocol.
    Protocol,
    /// One series per protocol and destination port.
    Port,
    /// One series per source country.
    Country,
    /// One series per sensor.
    Sensor,
}

/// Events in one bucket of a series.
#[derive(SimpleObject, Clone)]
pub struct DarknetPoint {
    /// The bucket's start.
    pub at: DateTime,
    /// Events in it (0 for an empty bucket).
    pub events: i64,
}

/// One series of a time series.
#[derive(SimpleObject, Clone)]
pub struct DarknetSeries {
    /// A label for the group: `all`, a protocol, `TCP/23`, a country code, a sensor id.
    pub label: String,
    /// The protocol of a PROTOCOL or PORT group.
    pub protocol: Option<DarknetProtocol>,
    /// The protocol number of a PROTOCOL or PORT group.
    pub protocol_number: Option<i32>,
    /// The port of a PORT group (null for protocols without ports).
    pub port: Option<i32>,
    /// The country of a COUNTRY group (null: unknown).
    pub country: Option<String>,
    /// The sensor of a SENSOR group.
    pub sensor_id: Option<ID>,
    /// Events in the whole window.
    pub total: i64,
    /// One point per bucket, oldest first, empty buckets included.
    pub points: Vec<DarknetPoint>,
}

impl From<Series> for DarknetSeries {
    fn from(s: Series) -> Self {
        let mut out = Self {
            label: "all".into(),
            protocol: None,
            protocol_number: None,
            port: None,
            country: None,
            sensor_id: None,
            total: s.total,
            points: s
                .points
                .into_iter()
                .map(|(at, events)| DarknetPoint {
                    at: DateTime(at),
                    events,
                })
                .collect(),
        };
        match s.key {
            SeriesKey::All => {}
            SeriesKey::Protocol(p) => {
                out.label = proto_name(p);
                out.protocol = Some(DarknetProtocol::of(p));
                out.protocol_number = Some(i32::from(p));
            }
            SeriesKey::Port(p, port) => {
                out.label = if port >= 0 {
                    format!("{}/{port}", proto_name(p))
                } else {
                    proto_name(p)
                };
                out.protocol = Some(DarknetProtocol::of(p));
                out.protocol_number = Some(i32::from(p));
                out.port = (port >= 0).then_some(port);
            }
            SeriesKey::Country(c) => {
                out.label = c.clone().unwrap_or_else(|| "unknown".into());
                out.country = c;
            }
            SeriesKey::Sensor(id) => {
                let id = node::encode("Sensor", id);
                out.label = id.to_string();
                out.sensor_id = Some(id);
            }
        }
        out
    }
}

/// A protocol's name (`PROTO=` style; a number for the others).
pub fn proto_name(number: i16) -> String {
    u8::try_from(number)
        .map(|n| Protocol::parse(&n.to_string()).map_or(n.to_string(), Protocol::name))
        .unwrap_or_else(|_| number.to_string())
}

/// Events per bucket, split into groups.
#[derive(SimpleObject)]
pub struct DarknetTimeSeries {
    /// The first bucket's start.
    pub from: DateTime,
    /// The end of the last bucket.
    pub to: DateTime,
    /// The width of each point.
    pub bucket: DarknetBucket,
    /// The largest groups, largest first.
    pub series: Vec<DarknetSeries>,
}

/// Events of a source at one sensor.
#[derive(SimpleObject, Clone)]
pub struct DarknetSensorCount {
    /// The sensor.
    pub sensor_id: ID,
    /// Events.
    pub events: i64,
}

/// Everything known of one scanner.
#[derive(SimpleObject)]
pub struct DarknetSourceProfile {
    /// Its address.
    pub address: String,
    /// Its first event.
    pub first_seen: DateTime,
    /// Its newest event.
    pub last_seen: DateTime,
    /// Its events, in all.
    pub events: i64,
    /// Its country, when known.
    pub country: Option<String>,
    /// Its AS number, when known.
    pub asn: Option<i64>,
    /// How many distinct protocol and port pairs it probed.
    pub distinct_ports: i64,
    /// How many sensors saw it.
    pub distinct_sensors: i64,
    /// The ports it probed most.
    pub ports: Vec<DarknetPortCount>,
    /// Its events per sensor, most first.
    pub sensors: Vec<DarknetSensorCount>,
}

impl From<sources::SourceProfile> for DarknetSourceProfile {
    fn from(p: sources::SourceProfile) -> Self {
        let total = p.source.events;
        Self {
            address: read::address(&p.source.src),
            first_seen: DateTime(p.source.first_seen),
            last_seen: DateTime(p.source.last_seen),
            events: total,
            country: p.source.country.clone(),
            asn: p.source.asn,
            distinct_ports: p.distinct_ports,
            distinct_sensors: sources::distinct_sensors(&p),
            ports: p
                .ports
                .iter()
                .map(|c| DarknetPortCount::new(c, total))
                .collect(),
            sensors: p
                .sensors
                .iter()
                .map(|(id, events)| DarknetSensorCount {
                    sensor_id: node::encode("Sensor", *id),
                    events: *events,
                })
                .collect(),
        }
    }
}

/// A field whose values' shares HECTOR's darknet view shows.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::darknet::read::ShareField")]
pub enum DarknetField {
    /// Protocol and destination port.
    DestinationPort,
    /// Protocol.
    Protocol,
    /// Source country.
    Country,
    /// Source address.
    Source,
    /// Sensor.
    Sensor,
}

/// One value's share.
#[derive(SimpleObject, Clone)]
pub struct DarknetShare {
    /// The value, as text (`TCP/23`, `NL`, an address, a sensor's name; `unknown` for no
    /// country).
    pub value: String,
    /// Events with it.
    pub events: i64,
    /// Their share of the total (0 to 1).
    pub share: f64,
}

/// The top values of a field and their shares.
#[derive(SimpleObject)]
pub struct DarknetShares {
    /// The field.
    pub field: DarknetField,
    /// The window's start.
    pub from: DateTime,
    /// The window's end.
    pub to: DateTime,
    /// Events in the window.
    pub total: i64,
    /// The top values, most first.
    pub values: Vec<DarknetShare>,
    /// Events of every other value.
    pub other: i64,
}

/// HECTOR's 24-hour snapshot: the last day at a glance.
#[derive(SimpleObject)]
pub struct DarknetSnapshot {
    /// The window's start (24 hours before `to`, rounded down to its hour).
    pub from: DateTime,
    /// The window's end (now, rounded up to its hour).
    pub to: DateTime,
    /// Events in the window.
    pub events: i64,
    /// Distinct source addresses in the window.
    pub distinct_sources: i64,
    /// The 10 busiest ports.
    pub top_ports: Vec<DarknetPortCount>,
    /// The 10 busiest countries.
    pub top_countries: Vec<DarknetCountryCount>,
    /// The 10 busiest sources.
    pub top_sources: Vec<DarknetSourceCount>,
    /// Events per hour.
    pub hourly: Vec<DarknetPoint>,
}
