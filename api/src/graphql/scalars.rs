//! Scalars: `IpAddr` (v4 or v6), `Cidr` and `DateTime` (RFC 3339, UTC), all as text.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// An IPv4 or IPv6 address, e.g. `192.0.2.10` or `2001:db8::1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpAddr(pub std::net::IpAddr);

/// An IPv4 or IPv6 address as text, e.g. `192.0.2.10` or `2001:db8::10`.
#[Scalar(name = "IpAddr")]
impl ScalarType for IpAddr {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) if s.len() <= 64 => s.trim().parse().map(IpAddr).map_err(|_| {
                InputValueError::custom(format!("{s:?} is not an IPv4 or IPv6 address"))
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// A network in CIDR notation, e.g. `10.0.0.0/8` or `2001:db8::/32`. Host bits must be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr(pub ipnet::IpNet);

/// An IPv4 or IPv6 network in CIDR notation, e.g. `192.0.2.0/24` or `2001:db8::/48`.
#[Scalar(name = "Cidr")]
impl ScalarType for Cidr {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(s) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        if s.len() > 64 {
            return Err(InputValueError::custom("CIDR is too long"));
        }
        let net: ipnet::IpNet = s.trim().parse().map_err(|_| {
            InputValueError::custom(format!("{s:?} is not a CIDR network such as 10.0.0.0/8"))
        })?;
        if net.trunc() != net {
            return Err(InputValueError::custom(format!(
                "{s:?} has host bits set; did you mean {}?",
                net.trunc()
            )));
        }
        Ok(Cidr(net))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// A point in time, as RFC 3339 text in UTC, e.g. `2026-12-02T17:14:13Z`; offsets other than
/// `Z` are accepted on input and converted to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub chrono::DateTime<chrono::Utc>);

/// A point in time, as RFC 3339 text in UTC, e.g. `2026-12-02T17:14:13Z`; offsets other than
/// `Z` are accepted on input and converted to UTC.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| Self(t.with_timezone(&chrono::Utc)))
                .map_err(|_| InputValueError::custom(format!("{s:?} is not an RFC 3339 time"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

impl From<chrono::DateTime<chrono::Utc>> for DateTime {
    fn from(t: chrono::DateTime<chrono::Utc>) -> Self {
        Self(t)
    }
}

impl From<DateTime> for chrono::DateTime<chrono::Utc> {
    fn from(t: DateTime) -> Self {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_with_any_offset_and_written_in_utc() {
        let t = <DateTime as ScalarType>::parse(Value::String("2026-12-02T18:00:00+01:00".into()))
            .unwrap();
        assert_eq!(t.to_value(), Value::String("2026-12-02T17:00:00Z".into()));
        assert!(<DateTime as ScalarType>::parse(Value::String("yesterday".into())).is_err());
        assert!(<DateTime as ScalarType>::parse(Value::Number(1.into())).is_err());
    }
}

/// A file of a GraphQL multipart request. The library's own `Upload` panics on a reference it
/// did not make (`"#__graphql_file__:x"`, or an index with no file behind it, both sendable in
/// plain JSON); this one refuses them as bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Upload(usize);

/// The prefix the multipart reader gives the variables it fills with files.
const FILE_REF: &str = "#__graphql_file__:";

/// A file sent with the request (the GraphQL multipart request spec, which Apollo's and urql's
/// upload links speak); in the operation's variables it is `null`, mapped to a part.
#[Scalar(
    name = "Upload",
    specified_by_url = "https://github.com/jaydenseric/graphql-multipart-request-spec"
)]
impl ScalarType for Upload {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => s
                .strip_prefix(FILE_REF)
                .and_then(|n| n.parse::<usize>().ok())
                .map(Upload)
                .ok_or_else(|| {
                    InputValueError::custom("send files as parts of a multipart request")
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Null
    }
}

impl Upload {
    /// The file, if the request carries it.
    pub fn value(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> crate::error::AppResult<async_graphql::UploadValue> {
        let file =
            ctx.query_env.uploads.get(self.0).ok_or_else(|| {
                crate::error::AppError::bad_input("the request carries no such file")
            })?;
        file.try_clone().map_err(crate::error::AppError::internal)
    }
}
