//! Remote addresses: `unix:PATH` and `tcp:HOST:PORT`, comma-separated for a cluster.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::OvsdbError;

/// One server address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Remote {
    /// `unix:PATH`: a Unix domain socket.
    Unix(PathBuf),
    /// `tcp:HOST:PORT` (IPv6 hosts in brackets: `tcp:[::1]:6641`).
    Tcp {
        /// Host name or IP address, without brackets.
        host: String,
        /// TCP port.
        port: u16,
    },
}

impl Remote {
    /// Parses a comma-separated list of remotes (`"tcp:10.0.0.1:6641,tcp:10.0.0.2:6641"`).
    pub fn parse_list(list: &str) -> Result<Vec<Remote>, OvsdbError> {
        let remotes: Vec<Remote> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        if remotes.is_empty() {
            return Err(OvsdbError::InvalidRemote {
                remote: list.to_owned(),
                reason: "no remote given".into(),
            });
        }
        Ok(remotes)
    }
}

impl FromStr for Remote {
    type Err = OvsdbError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| OvsdbError::InvalidRemote {
            remote: s.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(invalid("empty socket path"));
            }
            return Ok(Remote::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("tcp:") {
            let (host, port) =
                rest.rsplit_once(':').ok_or_else(|| invalid("expected tcp:HOST:PORT"))?;
            let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
            if host.is_empty() {
                return Err(invalid("empty host"));
            }
            let port = port.parse().map_err(|_| invalid("bad port"))?;
            return Ok(Remote::Tcp { host: host.to_owned(), port });
        }
        Err(invalid("expected unix:PATH or tcp:HOST:PORT (ssl is not supported)"))
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Unix(path) => write!(f, "unix:{}", path.display()),
            Remote::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Remote::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_parse_and_display() {
        let cases = [
            ("unix:/run/ovn/ovnnb_db.sock", Remote::Unix("/run/ovn/ovnnb_db.sock".into())),
            ("tcp:127.0.0.1:6641", Remote::Tcp { host: "127.0.0.1".into(), port: 6641 }),
            ("tcp:[::1]:6641", Remote::Tcp { host: "::1".into(), port: 6641 }),
            ("tcp:nb.example:1", Remote::Tcp { host: "nb.example".into(), port: 1 }),
        ];
        for (text, want) in cases {
            let got: Remote = text.parse().unwrap();
            assert_eq!(got, want);
            assert_eq!(got.to_string(), text);
        }
        let list = Remote::parse_list("tcp:a:1, tcp:b:2,unix:/s").unwrap();
        assert_eq!(list.len(), 3);
        for bad in ["", "ssl:a:1", "tcp:a", "tcp::1", "tcp:a:99999", "unix:", "a:1"] {
            assert!(Remote::parse_list(bad).is_err(), "{bad}");
        }
    }
}
