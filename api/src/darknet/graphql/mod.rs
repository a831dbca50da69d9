//! The darknet in GraphQL: sensors (admins manage them), raw events, the analytics read from
//! roll-ups, and the live views. Darknet data is organisation-wide: no support groups.

mod live;
mod mutation;
mod query;
pub mod types;

use async_graphql::Context;

pub use live::{DarknetSpike, DarknetSubscription};
pub use mutation::DarknetMutation;
pub use query::DarknetQuery;
pub use types::{DarknetEvent, Sensor};

use crate::actor::Role::{Admin, Analyst, Viewer};
use crate::darknet::{read, sensor, spike};
use crate::graphql::guard::{Access, Area};
use crate::graphql::{identity, state};

/// Darknet events and analytics: every reader; sensors only send.
pub static DARKNET: Area = Area {
    name: "darknet",
    readers: &[Admin, Analyst, Viewer],
    writers: &[],
};

/// Sensors: every reader sees them, admins manage them.
pub static SENSORS: Area = Area {
    name: "sensors",
    readers: &[Admin, Analyst, Viewer],
    writers: &[Admin],
};

/// The rule of `parent.field` for the darknet's fields.
pub fn access(parent: &str, field: &str) -> Option<Access> {
    use Access::*;
    Some(match (parent, field) {
        ("Query", "sensors" | "sensor") => Read(&SENSORS),
        (
            "Query",
            "darknetEvents"
            | "darknetTopPorts"
            | "darknetTopCountries"
            | "darknetTopSources"
            | "darknetTimeSeries"
            | "darknetSource"
            | "darknetShares"
            | "darknetSnapshot"
            | "darknetSpikes",
        ) => Read(&DARKNET),
        ("Subscription", "darknetActivity" | "darknetSpikeEvents") => Read(&DARKNET),
        ("Mutation", "createSensor" | "updateSensor" | "deleteSensor" | "createSensorToken") => {
            Write(&SENSORS)
        }
        (
            "Sensor",
            "id" | "name" | "networks" | "location" | "enabled" | "lastSeenAt" | "events"
            | "createdAt" | "updatedAt",
        ) => Read(&SENSORS),
        (
            "DarknetEvent",
            "id" | "seenAt" | "sensorId" | "source" | "destination" | "protocol" | "protocolNumber"
            | "sourcePort" | "destinationPort" | "icmpType" | "icmpCode" | "tcpFlags" | "ttl"
            | "length" | "country" | "asn",
        )
        | ("DarknetPortCount", "protocol" | "protocolNumber" | "port" | "events" | "share")
        | ("DarknetCountryCount", "country" | "events" | "share")
        | (
            "DarknetSourceCount",
            "address" | "events" | "share" | "firstSeen" | "lastSeen" | "country" | "asn",
        )
        | ("DarknetTopPorts", "from" | "to" | "total" | "ports")
        | ("DarknetTopCountries", "from" | "to" | "total" | "countries")
        | ("DarknetTopSources", "from" | "to" | "total" | "sources")
        | ("DarknetPoint", "at" | "events")
        | (
            "DarknetSeries",
            "label" | "protocol" | "protocolNumber" | "port" | "country" | "sensorId" | "total"
            | "points",
        )
        | ("DarknetTimeSeries", "from" | "to" | "bucket" | "series")
        | ("DarknetSensorCount", "sensorId" | "events")
        | (
            "DarknetSourceProfile",
            "address" | "firstSeen" | "lastSeen" | "events" | "country" | "asn" | "distinctPorts"
            | "distinctSensors" | "ports" | "sensors",
        )
        | ("DarknetShare", "value" | "events" | "share")
        | ("DarknetShares", "field" | "from" | "to" | "total" | "values" | "other")
        | (
            "DarknetSnapshot",
            "from" | "to" | "events" | "distinctSources" | "topPorts" | "topCountries"
            | "topSources" | "hourly",
        )
        | (
            "DarknetSpike",
            "id" | "hour" | "protocol" | "protocolNumber" | "port" | "events" | "baseline"
            | "detectedAt",
        )
        | (
            "DarknetActivity",
            "from" | "to" | "events" | "batches" | "protocols" | "topPorts" | "topCountries"
            | "topSources" | "rawEvents" | "rawDropped",
        )
        | ("DarknetProtocolCount", "protocol" | "protocolNumber" | "events")
        | ("DarknetSpikeEvent", "spike") => Read(&DARKNET),
        ("CreateSensorPayload", "sensor" | "token")
        | ("UpdateSensorPayload", "sensor")
        | ("DeleteSensorPayload", "deletedSensorId")
        | ("CreateSensorTokenPayload", "token" | "tokenId") => Public,
        _ => return None,
    })
}

/// A darknet object behind `node(id:)`.
pub enum DarknetNode {
    Sensor(Sensor),
    DarknetEvent(DarknetEvent),
    DarknetSpike(DarknetSpike),
}

/// The object of type `kind` and id `id`, when the caller may read it: `None` when `kind` is
/// not the darknet's.
pub async fn fetch_node(
    ctx: &Context<'_>,
    kind: &str,
    id: i64,
) -> crate::error::AppResult<Option<Option<DarknetNode>>> {
    let area = match kind {
        "Sensor" => &SENSORS,
        "DarknetEvent" | "DarknetSpike" => &DARKNET,
        _ => return Ok(None),
    };
    let allowed = identity(ctx)
        .principal()
        .is_some_and(|p| area.readers.contains(&p.role));
    if !allowed {
        return Ok(Some(None));
    }
    let db = &state(ctx)?.db;
    Ok(Some(match kind {
        "Sensor" => sensor::get(db, id)
            .await?
            .map(|m| DarknetNode::Sensor(Sensor(m))),
        "DarknetEvent" => read::event(db, id)
            .await?
            .map(|m| DarknetNode::DarknetEvent(DarknetEvent(m))),
        _ => spike::by_ids(db, &[id])
            .await?
            .into_iter()
            .next()
            .map(|m| DarknetNode::DarknetSpike(DarknetSpike(m))),
    }))
}
