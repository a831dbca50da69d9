//! Scan profiles: nmap options as structure, validated on the way in and turned into an
//! argument vector on the way out. No option is ever a free string and nothing reaches a shell.

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

/// How TCP ports are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Technique {
    /// A full TCP connection (`-sT`): works without privileges.
    #[default]
    Connect,
    /// Half-open SYN probes (`-sS`): needs raw sockets.
    Syn,
}

/// The few extra nmap options a profile may add, each harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Extra {
    /// `-Pn`: treat every target as up (skip host discovery).
    SkipHostDiscovery,
    /// `-n`: never resolve names.
    NoDns,
    /// `--open`: list only open ports.
    OpenOnly,
    /// `--reason`: say why a port is in its state.
    Reason,
    /// `--version-light`: quicker, less thorough version detection.
    VersionLight,
    /// `--defeat-rst-ratelimit`: do not slow down for hosts that limit resets.
    DefeatRstRatelimit,
}

impl Extra {
    fn flag(self) -> &'static str {
        match self {
            Self::SkipHostDiscovery => "-Pn",
            Self::NoDns => "-n",
            Self::OpenOnly => "--open",
            Self::Reason => "--reason",
            Self::VersionLight => "--version-light",
            Self::DefeatRstRatelimit => "--defeat-rst-ratelimit",
        }
    }
}

/// A profile's options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    /// TCP ports (`22,80,8000-8100`); none: no TCP scan.
    pub tcp_ports: Option<String>,
    /// UDP ports; none: no UDP scan (a UDP scan needs raw sockets).
    pub udp_ports: Option<String>,
    pub technique: Technique,
    /// `-sV`.
    pub service_detection: bool,
    /// `-O` (needs raw sockets).
    pub os_detection: bool,
    /// `-T0` to `-T5`.
    pub timing: u8,
    /// `--host-timeout`, in seconds.
    pub host_timeout_secs: Option<u32>,
    pub extras: Vec<Extra>,
    /// Without raw sockets, run a SYN profile as a connect scan (leaving out OS detection and
    /// UDP) instead of refusing the run.
    pub fall_back_to_connect: bool,
}

/// Most terms of one port list, and the longest list text.
const MAX_PORT_TERMS: usize = 256;
const MAX_PORT_TEXT: usize = 2048;

/// Parses a port list (`22,80,8000-8100`): numbers 1 to 65535 and ranges, nothing else.
pub fn port_spec(field: &str, spec: &str) -> AppResult<Vec<(u16, u16)>> {
    let bad = |why: String| AppError::bad_input(format!("`{field}`: {why}"));
    if spec.len() > MAX_PORT_TEXT {
        return Err(bad(format!("at most {MAX_PORT_TEXT} characters")));
    }
    if let Some(c) = spec
        .chars()
        .find(|c| !(c.is_ascii_digit() || *c == ',' || *c == '-' || *c == ' '))
    {
        return Err(bad(format!(
            "{c:?} is not allowed: give port numbers and ranges such as `22,80,8000-8100`"
        )));
    }
    let mut out = Vec::new();
    for term in spec.split(',').map(str::trim) {
        if term.is_empty() {
            return Err(bad("an empty item".into()));
        }
        let number = |s: &str| -> AppResult<u16> {
            match s.trim().parse::<u32>() {
                Ok(n @ 1..=65535) => Ok(n as u16),
                _ => Err(bad(format!("`{s}` is not a port from 1 to 65535"))),
            }
        };
        let (lo, hi) = match term.split_once('-') {
            Some((lo, hi)) => (number(lo)?, number(hi)?),
            None => {
                let n = number(term)?;
                (n, n)
            }
        };
        if lo > hi {
            return Err(bad(format!("the range `{term}` runs backwards")));
        }
        out.push((lo, hi));
    }
    if out.len() > MAX_PORT_TERMS {
        return Err(bad(format!("at most {MAX_PORT_TERMS} items")));
    }
    Ok(out)
}

impl Options {
    /// Checks every option; the error names the first one that is wrong.
    pub fn validate(&self) -> AppResult<()> {
        if self.tcp_ports.is_none() && self.udp_ports.is_none() {
            return Err(AppError::bad_input(
                "give `tcpPorts`, `udpPorts` or both: a profile must scan some ports",
            ));
        }
        if let Some(p) = &self.tcp_ports {
            port_spec("tcpPorts", p)?;
        }
        if let Some(p) = &self.udp_ports {
            port_spec("udpPorts", p)?;
        }
        if self.timing > 5 {
            return Err(AppError::bad_input(
                "`timing` is 0 to 5 (nmap's -T0 to -T5)",
            ));
        }
        if self
            .host_timeout_secs
            .is_some_and(|t| !(1..=86_400).contains(&t))
        {
            return Err(AppError::bad_input(
                "`hostTimeoutSecs` is 1 to 86400 seconds",
            ));
        }
        if self.extras.len() > 16 {
            return Err(AppError::bad_input("`extras` takes at most 16 options"));
        }
        Ok(())
    }

    /// Whether the profile needs raw sockets (SYN, UDP or OS detection).
    pub fn needs_raw_sockets(&self) -> bool {
        self.technique == Technique::Syn || self.udp_ports.is_some() || self.os_detection
    }

    /// The same profile without anything that needs raw sockets.
    pub fn unprivileged(&self) -> Option<Self> {
        let mut o = self.clone();
        o.technique = Technique::Connect;
        o.udp_ports = None;
        o.os_detection = false;
        o.tcp_ports.is_some().then_some(o)
    }

    /// nmap's arguments for this profile, XML to standard output, targets read from standard
    /// input, never `excluded`.
    pub fn argv(&self, excluded: &[String]) -> Vec<String> {
        let mut args: Vec<String> = vec!["-oX".into(), "-".into(), "--noninteractive".into()];
        match self.technique {
            Technique::Connect => args.push("-sT".into()),
            Technique::Syn => args.push("-sS".into()),
        }
        if self.udp_ports.is_some() {
            args.push("-sU".into());
        }
        let mut ports = Vec::new();
        if let Some(t) = &self.tcp_ports {
            ports.push(format!("T:{}", t.replace(' ', "")));
        }
        if let Some(u) = &self.udp_ports {
            ports.push(format!("U:{}", u.replace(' ', "")));
        }
        args.push("-p".into());
        args.push(ports.join(","));
        if self.service_detection {
            args.push("-sV".into());
        }
        if self.os_detection {
            args.push("-O".into());
        }
        args.push(format!("-T{}", self.timing));
        if let Some(t) = self.host_timeout_secs {
            args.push("--host-timeout".into());
            args.push(format!("{t}s"));
        }
        let mut extras = self.extras.clone();
        extras.dedup();
        for e in extras {
            args.push(e.flag().into());
        }
        if !excluded.is_empty() {
            args.push("--exclude".into());
            args.push(excluded.join(","));
        }
        args.push("-iL".into());
        args.push("-".into());
        args
    }

    /// Whether `port` of `protocol` is one the profile probes.
    pub fn probes(&self, protocol: &str, port: u16) -> bool {
        let spec = match protocol {
            "tcp" => self.tcp_ports.as_deref(),
            "udp" => self.udp_ports.as_deref(),
            _ => None,
        };
        spec.and_then(|s| port_spec("ports", s).ok())
            .is_some_and(|r| r.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port)))
    }
}

/// Whether this process may open raw sockets (CAP_NET_RAW in its effective set), which SYN,
/// UDP and OS-detection scans need.
pub fn has_raw_sockets() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 13) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Options {
        Options {
            tcp_ports: Some("22,80,8000-8100".into()),
            udp_ports: None,
            technique: Technique::Connect,
            service_detection: true,
            os_detection: false,
            timing: 4,
            host_timeout_secs: Some(60),
            extras: vec![Extra::SkipHostDiscovery],
            fall_back_to_connect: false,
        }
    }

    #[test]
    fn a_profile_becomes_an_argument_vector() {
        let o = base();
        o.validate().unwrap();
        assert_eq!(
            o.argv(&["10.0.0.9".into()]),
            [
                "-oX",
                "-",
                "--noninteractive",
                "-sT",
                "-p",
                "T:22,80,8000-8100",
                "-sV",
                "-T4",
                "--host-timeout",
                "60s",
                "-Pn",
                "--exclude",
                "10.0.0.9",
                "-iL",
                "-"
            ]
        );
        assert!(o.probes("tcp", 8050) && !o.probes("tcp", 8101) && !o.probes("udp", 22));
    }

    #[test]
    fn bad_port_lists_are_refused() {
        for bad in [
            "22;rm -rf /",
            "0",
            "65536",
            "80-22",
            "",
            "22,,80",
            "$(id)",
            "22 80",
            "1-2-3",
        ] {
            let o = Options {
                tcp_ports: Some(bad.into()),
                ..base()
            };
            assert!(o.validate().is_err(), "{bad:?} was accepted");
        }
        let o = Options {
            tcp_ports: None,
            udp_ports: None,
            ..base()
        };
        assert!(o.validate().is_err());
        assert!(
            Options {
                timing: 6,
                ..base()
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn without_raw_sockets_a_profile_can_fall_back() {
        let o = Options {
            technique: Technique::Syn,
            os_detection: true,
            udp_ports: Some("53".into()),
            ..base()
        };
        assert!(o.needs_raw_sockets());
        let u = o.unprivileged().unwrap();
        assert!(!u.needs_raw_sockets());
        assert_eq!(u.tcp_ports, o.tcp_ports);
    }
}
