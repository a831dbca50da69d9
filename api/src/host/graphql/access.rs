//! Who may use each field of the inventory: every field of every type this domain owns is
//! named here, so a new field has no rule until someone decides it (and the schema walk fails).

use crate::actor::Role::{Admin, Analyst, Viewer};
use crate::graphql::guard::{Access, Area};

/// Hosts and the catalogs around them.
pub static INVENTORY: Area = Area {
    name: "inventory",
    readers: &[Admin, Analyst, Viewer],
    writers: &[Admin, Analyst],
};

/// Support groups decide who sees which hosts: inventory readers read them, admins manage them.
pub static SUPPORT_GROUPS: Area = Area {
    name: "support groups",
    readers: &[Admin, Analyst, Viewer],
    writers: &[Admin],
};

/// The rule of `parent.field` for the inventory's fields.
pub fn rule(parent: &str, field: &str) -> Option<Access> {
    use Access::*;
    Some(match (parent, field) {
        (
            "Query",
            "host" | "hostByAddress" | "hosts" | "tags" | "tag" | "hostGroups" | "hostGroup"
            | "supportGroups" | "supportGroup" | "locations" | "location" | "url" | "osBreakdown"
            | "exposureChanges" | "topOpenPorts" | "service" | "hostsByPorts" | "dangerousHosts"
            | "webServers" | "exposureDigests",
        ) => Read(&INVENTORY),
        (
            "Mutation",
            "createHost"
            | "updateHost"
            | "deleteHost"
            | "addHosts"
            | "tagHosts"
            | "untagHosts"
            | "addHostsToGroups"
            | "removeHostsFromGroups"
            | "setScanExclusion"
            | "clearScanExclusion"
            | "createHostGroup"
            | "updateHostGroup"
            | "deleteHostGroup"
            | "createTag"
            | "updateTag"
            | "deleteTag"
            | "createLocation"
            | "updateLocation"
            | "deleteLocation"
            | "createUrl"
            | "updateUrl"
            | "deleteUrl",
        ) => Write(&INVENTORY),
        ("Mutation", "createSupportGroup" | "updateSupportGroup" | "deleteSupportGroup") => {
            Write(&SUPPORT_GROUPS)
        }
        ("Subscription", "hostEvents" | "exposureEvents") => Read(&INVENTORY),
        (
            "Host",
            "id" | "address" | "names" | "os" | "sponsor" | "technicalContact" | "notes" | "link"
            | "confidentialData" | "supportGroup" | "location" | "tags" | "groups" | "urls"
            | "scanExclusion" | "firstSeen" | "lastSeen" | "createdAt" | "updatedAt" | "services",
        )
        | ("Tag", "id" | "name" | "usage" | "createdAt")
        | ("HostGroup", "id" | "name" | "detail" | "hosts" | "createdAt" | "updatedAt")
        | ("Location", "id" | "name" | "hosts" | "createdAt" | "updatedAt")
        | ("Url", "id" | "url" | "screenshot" | "host" | "createdAt")
        | ("OperatingSystem", "name" | "family" | "vendor" | "type")
        | ("ScanExclusion", "reason" | "until" | "setByName" | "setAt" | "active")
        | ("OsCount", "os" | "hosts")
        | ("HostEvent", "kind" | "at" | "cursor" | "hostId" | "host")
        | (
            "Service",
            "id" | "host" | "protocol" | "port" | "state" | "name" | "product" | "version"
            | "extraInfo" | "cpe" | "scripts" | "firstSeen" | "lastSeen" | "stateChangedAt"
            | "history",
        )
        | ("ScriptResult", "id" | "output")
        | (
            "ServiceObservation",
            "observedAt" | "state" | "name" | "product" | "version" | "scanRunId",
        )
        | (
            "ExposureChange",
            "id" | "kind" | "host" | "serviceId" | "protocol" | "port" | "previous" | "current"
            | "at" | "scanRunId",
        )
        | ("PortCount", "protocol" | "port" | "hosts")
        | ("DangerousHost", "host" | "openPorts" | "riskyPorts")
        | (
            "ExposureDigest",
            "supportGroup" | "periodStart" | "periodEnd" | "opened" | "closed" | "changed"
            | "changes",
        ) => Read(&INVENTORY),
        ("SupportGroup", "id" | "name" | "email" | "hosts" | "createdAt" | "updatedAt") => {
            Read(&SUPPORT_GROUPS)
        }
        // Payloads: structure around objects guarded by their own types.
        ("AddHostsPayload", "created" | "skipped")
        | ("CreateHostPayload" | "UpdateHostPayload" | "ScanExclusionPayload", "host")
        | ("DeleteHostPayload", "deletedHostId")
        | ("GroupHostsPayload" | "TagHostsPayload", "hosts")
        | ("CreateHostGroupPayload" | "UpdateHostGroupPayload", "hostGroup")
        | ("DeleteHostGroupPayload", "deletedHostGroupId")
        | ("CreateLocationPayload" | "UpdateLocationPayload", "location")
        | ("DeleteLocationPayload", "deletedLocationId")
        | ("CreateSupportGroupPayload" | "UpdateSupportGroupPayload", "supportGroup")
        | ("DeleteSupportGroupPayload", "deletedSupportGroupId")
        | ("CreateTagPayload" | "UpdateTagPayload", "tag")
        | ("DeleteTagPayload", "deletedTagId")
        | ("CreateUrlPayload" | "UpdateUrlPayload", "url")
        | ("DeleteUrlPayload", "deletedUrlId") => Public,
        _ => return None,
    })
}
