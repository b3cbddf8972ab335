//! Addresses: `tcp://host:port`, `tls://host:port`, `unix:/path`,
//! `quic://host:port`, `mem:NAME`, parsed by hand (no URL crate: the
//! grammar is five schemes).

use std::fmt;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::str::FromStr;

/// Where to dial or listen, parsed from a string with [`FromStr`]:
///
/// | address | what |
/// |---|---|
/// | `tcp://HOST:PORT` | TCP; `HOST` a name, an IPv4 address or an IPv6 address in brackets (`tcp://[::1]:80`) |
/// | `tls://HOST:PORT` | TLS over TCP; the client checks the certificate against `HOST` (also sent as SNI) |
/// | `unix:PATH`, `unix:///PATH` | a Unix domain socket at `PATH` (taken as written, relative or absolute) |
/// | `quic://HOST:PORT` | QUIC: one bidirectional stream of a connection (feature `quic`) |
/// | `mem:NAME` | an in-process, in-memory listener named `NAME` (for tests) |
///
/// Schemes are case-insensitive; [`Display`](fmt::Display) writes the
/// canonical form (`tcp://[::1]:80`, `unix:/run/x.sock`, `mem:name`), which
/// parses back to the same address. Port 0 is accepted: listening on it
/// picks a free port, which the listener's
/// [`local_addr`](super::Listener::local_addr) tells.
///
/// ```
/// use anyflow::dial::Address;
///
/// let addr: Address = "tcp://[::1]:8080".parse()?;
/// assert_eq!(addr, Address::Tcp { host: "::1".into(), port: 8080 });
/// assert_eq!(addr.to_string(), "tcp://[::1]:8080");
/// # Ok::<(), anyflow::dial::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// `tcp://host:port`.
    Tcp {
        /// A host name or an IP address (IPv6 without the brackets).
        host: String,
        /// The port.
        port: u16,
    },
    /// `tls://host:port`: TLS over TCP.
    Tls {
        /// A host name or an IP address (IPv6 without the brackets): the
        /// name the server's certificate must be valid for.
        host: String,
        /// The port.
        port: u16,
    },
    /// `unix:/path`: a Unix domain socket.
    Unix(PathBuf),
    /// `quic://host:port`: a bidirectional stream of a QUIC connection
    /// (feature `quic`).
    Quic {
        /// A host name or an IP address (IPv6 without the brackets).
        host: String,
        /// The port.
        port: u16,
    },
    /// `mem:NAME`: an in-process listener (feature `mem`).
    Mem(String),
}

impl Address {
    /// The scheme: `"tcp"`, `"tls"`, `"unix"`, `"quic"` or `"mem"`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Address::Tcp { .. } => "tcp",
            Address::Tls { .. } => "tls",
            Address::Unix(_) => "unix",
            Address::Quic { .. } => "quic",
            Address::Mem(_) => "mem",
        }
    }

    /// `host:port` for the socket layer (IPv6 in brackets), for the schemes
    /// that have a host.
    pub(crate) fn host_port(&self) -> Option<String> {
        match self {
            Address::Tcp { host, port } | Address::Tls { host, port } | Address::Quic { host, port } => {
                Some(host_port(host, *port))
            }
            Address::Unix(_) | Address::Mem(_) => None,
        }
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } | Address::Tls { host, port } | Address::Quic { host, port } => {
                write!(f, "{}://{}", self.scheme(), host_port(host, *port))
            }
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::Mem(name) => write!(f, "mem:{name}"),
        }
    }
}

/// Why a string is not an [`Address`]: the string, and what is wrong with
/// it ([`kind`](AddressError::kind)).
///
/// It prints both: `invalid address "tcp://example.com": missing port
/// (expected tcp://HOST:PORT)`. Dialling or listening on a string that does
/// not parse fails with a [`flow_api::Error`] of kind
/// [`ErrorKind::InvalidData`](flow_api::ErrorKind::InvalidData) whose
/// source is this error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError {
    input: String,
    kind: AddressErrorKind,
}

impl AddressError {
    fn new(input: &str, kind: AddressErrorKind) -> Self {
        AddressError {
            input: input.to_owned(),
            kind,
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> &AddressErrorKind {
        &self.kind
    }

    /// The string that did not parse.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid address {:?}: {}", self.input, self.kind)
    }
}

impl std::error::Error for AddressError {}

/// What is wrong with an address, for [`AddressError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressErrorKind {
    /// The string is empty.
    Empty,
    /// No `scheme:` in front (`127.0.0.1:80`, `/run/x.sock`).
    MissingScheme,
    /// A scheme this crate does not know (the scheme, lowercased).
    UnknownScheme(String),
    /// `tcp:`, `tls:` or `quic:` without the `//` (`tcp:host:80`).
    MissingSlashes,
    /// Nothing between `//` and the port.
    EmptyHost,
    /// A host with characters no host name has (spaces, `@`, `/`...), or an
    /// IPv6 address without brackets.
    InvalidHost,
    /// Brackets that do not hold an IPv6 address, or are not closed.
    InvalidIpv6,
    /// No `:PORT` after the host.
    MissingPort,
    /// A port that is not a decimal number.
    InvalidPort,
    /// A port above 65535.
    PortOutOfRange,
    /// Something after the port (a path, a query).
    UnexpectedPath,
    /// `unix:` with nothing after it.
    EmptyPath,
    /// `unix://host/path`: Unix socket addresses have no host.
    UnexpectedHost,
    /// `mem:` with nothing after it.
    EmptyName,
    /// A `mem:` name with a space or a `/`.
    InvalidName,
}

impl fmt::Display for AddressErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressErrorKind::Empty => f.write_str("empty address"),
            AddressErrorKind::MissingScheme => f.write_str(
                "missing scheme (expected tcp://HOST:PORT, tls://HOST:PORT, unix:PATH, quic://HOST:PORT or mem:NAME)",
            ),
            AddressErrorKind::UnknownScheme(scheme) => {
                write!(f, "unknown scheme {scheme:?} (expected tcp, tls, unix, quic or mem)")
            }
            AddressErrorKind::MissingSlashes => {
                f.write_str("missing \"//\" after the scheme (expected SCHEME://HOST:PORT)")
            }
            AddressErrorKind::EmptyHost => f.write_str("empty host (expected SCHEME://HOST:PORT)"),
            AddressErrorKind::InvalidHost => {
                f.write_str("invalid host (IPv6 addresses go in brackets: tcp://[::1]:80)")
            }
            AddressErrorKind::InvalidIpv6 => f.write_str("invalid IPv6 address in brackets"),
            AddressErrorKind::MissingPort => f.write_str("missing port (expected SCHEME://HOST:PORT)"),
            AddressErrorKind::InvalidPort => f.write_str("invalid port (expected a number from 0 to 65535)"),
            AddressErrorKind::PortOutOfRange => f.write_str("port out of range (expected a number from 0 to 65535)"),
            AddressErrorKind::UnexpectedPath => f.write_str("unexpected path or query after the port"),
            AddressErrorKind::EmptyPath => f.write_str("empty path (expected unix:PATH)"),
            AddressErrorKind::UnexpectedHost => {
                f.write_str("unix addresses have no host (expected unix:/PATH or unix:///PATH)")
            }
            AddressErrorKind::EmptyName => f.write_str("empty name (expected mem:NAME)"),
            AddressErrorKind::InvalidName => f.write_str("invalid name (no spaces or '/' in mem:NAME)"),
        }
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<Address, AddressError> {
        let fail = |kind| AddressError::new(input, kind);
        if input.is_empty() {
            return Err(fail(AddressErrorKind::Empty));
        }
        let Some((scheme, rest)) = input.split_once(':') else {
            return Err(fail(AddressErrorKind::MissingScheme));
        };
        // RFC 3986: a letter, then letters, digits, '+', '-' or '.'.
        let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok {
            return Err(fail(AddressErrorKind::MissingScheme));
        }
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "tcp" | "tls" | "quic" => {
                let (host, port) = authority(rest).map_err(fail)?;
                Ok(match scheme.as_str() {
                    "tcp" => Address::Tcp { host, port },
                    "tls" => Address::Tls { host, port },
                    _ => Address::Quic { host, port },
                })
            }
            "unix" => {
                let path = match rest.strip_prefix("//") {
                    // `unix:///path`: an empty authority, then the path.
                    Some(after) if after.is_empty() || after.starts_with('/') => after,
                    Some(_) => return Err(fail(AddressErrorKind::UnexpectedHost)),
                    None => rest,
                };
                if path.is_empty() {
                    return Err(fail(AddressErrorKind::EmptyPath));
                }
                Ok(Address::Unix(PathBuf::from(path)))
            }
            "mem" => {
                if rest.is_empty() {
                    return Err(fail(AddressErrorKind::EmptyName));
                }
                if rest.chars().any(|c| c.is_whitespace() || c == '/') {
                    return Err(fail(AddressErrorKind::InvalidName));
                }
                Ok(Address::Mem(rest.to_owned()))
            }
            // `localhost:80`: a host and port without a scheme.
            _ if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) => {
                Err(fail(AddressErrorKind::MissingScheme))
            }
            _ => Err(fail(AddressErrorKind::UnknownScheme(scheme))),
        }
    }
}

/// `//host:port` into its host (IPv6 without brackets) and port.
fn authority(rest: &str) -> Result<(String, u16), AddressErrorKind> {
    let rest = rest.strip_prefix("//").ok_or(AddressErrorKind::MissingSlashes)?;
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (inside, after) = bracketed.split_once(']').ok_or(AddressErrorKind::InvalidIpv6)?;
        inside.parse::<Ipv6Addr>().map_err(|_| AddressErrorKind::InvalidIpv6)?;
        match after.strip_prefix(':') {
            Some(port) => (inside, port),
            None if after.is_empty() => return Err(AddressErrorKind::MissingPort),
            None => return Err(AddressErrorKind::InvalidHost),
        }
    } else {
        if authority.matches(':').count() > 1 {
            // `tcp://::1:80`: an IPv6 address without its brackets.
            return Err(AddressErrorKind::InvalidHost);
        }
        let (host, port) = match authority.split_once(':') {
            Some(split) => split,
            None => (authority, ""),
        };
        if host.is_empty() {
            return Err(AddressErrorKind::EmptyHost);
        }
        if host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "@[]\\%".contains(c))
        {
            return Err(AddressErrorKind::InvalidHost);
        }
        (host, port)
    };
    if port.is_empty() {
        return Err(AddressErrorKind::MissingPort);
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressErrorKind::InvalidPort);
    }
    // Leading zeros aside, more than five digits is out of range; five fit a u32.
    let significant = port.trim_start_matches('0');
    if significant.len() > 5 {
        return Err(AddressErrorKind::PortOutOfRange);
    }
    let port = u16::try_from(significant.parse::<u32>().unwrap_or(0)).map_err(|_| AddressErrorKind::PortOutOfRange)?;
    if !path.is_empty() {
        return Err(AddressErrorKind::UnexpectedPath);
    }
    Ok((host.to_owned(), port))
}

/// What [`dial`](super::dial) and [`listen`](super::listen) take: an
/// [`Address`], or a string that parses as one.
pub trait IntoAddress {
    /// The address.
    ///
    /// # Errors
    ///
    /// The string is not a valid address.
    fn into_address(self) -> Result<Address, AddressError>;
}

impl IntoAddress for Address {
    fn into_address(self) -> Result<Address, AddressError> {
        Ok(self)
    }
}

impl IntoAddress for &Address {
    fn into_address(self) -> Result<Address, AddressError> {
        Ok(self.clone())
    }
}

impl IntoAddress for &str {
    fn into_address(self) -> Result<Address, AddressError> {
        self.parse()
    }
}

impl IntoAddress for String {
    fn into_address(self) -> Result<Address, AddressError> {
        self.parse()
    }
}

impl IntoAddress for &String {
    fn into_address(self) -> Result<Address, AddressError> {
        self.parse()
    }
}
