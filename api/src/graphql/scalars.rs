//! Scalars: `IpAddr` (v4 or v6) and `Cidr`, both as text. `DateTime` is chrono's RFC 3339.

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
