//! Network-bound credentials: an API key (and everything minted from it: refresh tokens, registry
//! tokens) usable only from listed client networks (CIDR, IPv4 and IPv6) and, optionally, countries.
//!
//! The binding is checked twice, because a token service that checks only when it issues (as
//! docker_auth does) lets a token copied off the network work until it expires:
//! - at issuance: a request from elsewhere is refused before anything is signed;
//! - in proxy mode: the registry token carries the binding as its `net` claim (signed with the
//!   token), so every registry request is checked against the caller's address, cached token or not.
//!
//! The client address is Cloudflare's `CF-Connecting-IP` (set by the edge, not by the client) and
//! the country `request.cf.country`. Whatever is missing fails closed: a bound credential with no
//! client address, or with countries but no country, is refused.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// Networks per credential. Bounds the record, the token's `net` claim and the per-request check.
pub(crate) const MAX_NETS: usize = 32;
/// Countries per credential.
pub(crate) const MAX_COUNTRIES: usize = 32;

/// Where a credential may be used from. Both lists empty: anywhere (no binding).
/// Serialised in KV records and in the token's `net` claim as
/// `{"cidrs":["10.0.0.0/8","2001:db8::/32"],"countries":["DE"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireBinding", into = "WireBinding")]
pub struct NetBinding {
    cidrs: Vec<Cidr>,
    countries: Vec<String>,
}

/// The serialised form; every value is validated on the way in (a malformed record or claim is an
/// error, never a wider binding).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBinding {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cidrs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    countries: Vec<String>,
}

impl TryFrom<WireBinding> for NetBinding {
    type Error = BindingError;
    fn try_from(w: WireBinding) -> Result<Self, BindingError> {
        NetBinding::parse(&w.cidrs, &w.countries)
    }
}

impl From<NetBinding> for WireBinding {
    fn from(b: NetBinding) -> Self {
        WireBinding {
            cidrs: b.cidrs.iter().map(Cidr::to_string).collect(),
            countries: b.countries,
        }
    }
}

/// A network list that cannot be a binding. The message names the bad entry (a CIDR is not a
/// secret) and says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// Not ADDRESS/PREFIX (the entry as shown, control characters removed, bounded).
    #[error("'{0}' is not a CIDR network: write ADDRESS/PREFIX, e.g. 10.0.0.0/8 or 2001:db8::/32")]
    NotCidr(String),
    /// Host bits set: the entry, and the network it probably means.
    #[error("'{shown}' has host bits set: did you mean {network}?")]
    HostBits { shown: String, network: Cidr },
    /// Not an ISO 3166-1 alpha-2 code.
    #[error("'{0}' is not a country code: use ISO 3166-1 alpha-2, e.g. DE or US")]
    NotCountry(String),
    /// How many networks are listed (more than `MAX_NETS`).
    #[error("{0} networks listed; at most {MAX_NETS} are allowed per credential")]
    TooManyNetworks(usize),
    /// How many countries are listed (more than `MAX_COUNTRIES`).
    #[error("{0} countries listed; at most {MAX_COUNTRIES} are allowed per credential")]
    TooManyCountries(usize),
}

/// One network: an address with its host bits clear, and a prefix length. Addresses are parsed
/// and printed by std's `IpAddr` (canonical IPv6 text); only the prefix mask is computed here.
/// (The `ipnet` crate did the same with its own copy of std's address parser: +KBs of wasm.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// `addr` with all but the first `prefix` bits cleared (`prefix` within the family's width).
fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

impl Cidr {
    /// Whether `ip` (already canonical: IPv4-mapped read as IPv4) is inside this network.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && masked(ip, self.prefix) == self.addr
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Parses one CIDR. A bare address is refused rather than read as /32 or /128: the operator
/// should say which they mean. Host bits set (`10.0.0.1/8`) are refused too: they usually mean a
/// typo in the prefix length.
pub fn parse_cidr(text: &str) -> Result<Cidr, BindingError> {
    let shown: String = text.chars().filter(|c| !c.is_control()).take(64).collect();
    let malformed = || BindingError::NotCidr(shown.clone());
    let (addr, prefix) = text.trim().split_once('/').ok_or_else(malformed)?;
    let addr: IpAddr = addr.parse().map_err(|_| malformed())?;
    let width = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = Some(prefix)
        .filter(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse::<u8>().ok())
        .filter(|p| *p <= width)
        .ok_or_else(malformed)?;
    let net = Cidr {
        addr: masked(addr, prefix),
        prefix,
    };
    if net.addr != addr {
        return Err(BindingError::HostBits {
            shown,
            network: net,
        });
    }
    Ok(net)
}

/// A country as `request.cf.country` gives it: ISO 3166-1 alpha-2, upper case (`T1` is Tor).
pub fn parse_country(text: &str) -> Result<String, BindingError> {
    let c = text.trim();
    if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(c.to_ascii_uppercase())
    } else {
        let shown: String = c.chars().filter(|c| !c.is_control()).take(16).collect();
        Err(BindingError::NotCountry(shown))
    }
}

/// Why a bound credential was refused. Messages name the client's own address or country (which
/// it knows), never the allowed list (which would tell a thief where to go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetRefusal {
    /// No client address (or an unparseable one) reached us.
    NoAddress,
    /// The address is outside every allowed network.
    Network(IpAddr),
    /// The credential is bound to countries and the runtime gave none.
    NoCountry,
    /// The country is not an allowed one.
    Country(String),
}

impl NetRefusal {
    /// A short code for log lines and the pull ledger.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            NetRefusal::NoAddress => "net_no_address",
            NetRefusal::Network(_) => "net_network",
            NetRefusal::NoCountry => "net_no_country",
            NetRefusal::Country(_) => "net_country",
        }
    }
}

impl fmt::Display for NetRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetRefusal::NoAddress => f.write_str(
                "this credential is bound to client networks, and the client address is unknown",
            ),
            NetRefusal::Network(ip) => write!(
                f,
                "this credential may not be used from {ip}: it is bound to other client networks"
            ),
            NetRefusal::NoCountry => f.write_str(
                "this credential is bound to countries, and the client's country is unknown",
            ),
            NetRefusal::Country(c) => write!(
                f,
                "this credential may not be used from country {c}: it is bound to other countries"
            ),
        }
    }
}

/// Where a request comes from, as the edge says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ClientNet<'a> {
    /// `CF-Connecting-IP`.
    pub ip: Option<&'a str>,
    /// `request.cf.country`.
    pub country: Option<&'a str>,
}

/// An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) is the IPv4 address for matching.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl NetBinding {
    /// Validates and normalises lists as an operator writes them (CLI flags, the policy file).
    /// Duplicates are dropped; more than [`MAX_NETS`] / [`MAX_COUNTRIES`] is an error.
    pub fn parse(
        cidrs: &[impl AsRef<str>],
        countries: &[impl AsRef<str>],
    ) -> Result<Self, BindingError> {
        if cidrs.len() > MAX_NETS {
            return Err(BindingError::TooManyNetworks(cidrs.len()));
        }
        if countries.len() > MAX_COUNTRIES {
            return Err(BindingError::TooManyCountries(countries.len()));
        }
        let mut b = NetBinding::default();
        for c in cidrs {
            let net = parse_cidr(c.as_ref())?;
            if !b.cidrs.contains(&net) {
                b.cidrs.push(net);
            }
        }
        for c in countries {
            let country = parse_country(c.as_ref())?;
            if !b.countries.contains(&country) {
                b.countries.push(country);
            }
        }
        Ok(b)
    }

    /// No restriction at all.
    pub fn is_unbound(&self) -> bool {
        self.cidrs.is_empty() && self.countries.is_empty()
    }

    pub fn cidrs(&self) -> impl Iterator<Item = String> + '_ {
        self.cidrs.iter().map(Cidr::to_string)
    }

    pub fn countries(&self) -> &[String] {
        &self.countries
    }

    /// Whether `client` may use a credential with this binding. Both lists must hold when both
    /// are set (network AND country).
    pub(crate) fn admits(&self, client: ClientNet<'_>) -> Result<(), NetRefusal> {
        if !self.cidrs.is_empty() {
            let ip = client
                .ip
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .map(canonical)
                .ok_or(NetRefusal::NoAddress)?;
            if !self.cidrs.iter().any(|n| n.contains(ip)) {
                return Err(NetRefusal::Network(ip));
            }
        }
        if !self.countries.is_empty() {
            let country = client
                .country
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .ok_or(NetRefusal::NoCountry)?;
            if !self
                .countries
                .iter()
                .any(|c| c.eq_ignore_ascii_case(country))
            {
                let shown: String = country
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(8)
                    .collect();
                return Err(NetRefusal::Country(shown));
            }
        }
        Ok(())
    }
}

/// The check for an optional binding (most credentials have none). `client` is asked only for a
/// bound credential: reading the client's country costs the worker a runtime call.
pub(crate) fn admit<'c>(
    binding: Option<&NetBinding>,
    client: impl FnOnce() -> ClientNet<'c>,
) -> Result<(), NetRefusal> {
    binding.map_or(Ok(()), |b| b.admits(client()))
}

#[cfg(test)]
mod tests;
