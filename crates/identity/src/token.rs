//! The token payload and its compact binary form.
//!
//! Clients treat tokens as opaque, so neutrino's payload need not match Keystone's msgpack
//! layout; what matters is that it stays small (Keystone's tokens are under 255 characters and
//! some clients store them in columns of that size) and carries everything the request context
//! needs, so that checking a token needs no database read.
//!
//! Layout, version 1 (all integers big-endian):
//!
//! ```text
//! u8   version = 1
//! u8   flags: bit 0 user id packed, bits 1-2 scope kind (0 unscoped, 1 project, 2 domain,
//!      3 system), bit 3 scope id packed, bit 4 parent audit id present
//! id   user id            packed: 16 raw bytes of a 32-lowercase-hex id; else u8 length + UTF-8
//! id   scope id           only for project and domain scope, same encoding
//! i64  issued at          microseconds since the Unix epoch
//! i64  expires at         microseconds since the Unix epoch
//! 16   audit id           random bytes
//! 16   parent audit id    (flag bit 4) the audit id of the token this one was rescoped from
//! u8   methods            bit 0 password, bit 1 token
//! u16  known roles        bitmask over KNOWN_ROLES
//! u8   n other roles, then n × (u8 length + UTF-8 name)
//! ```
//!
//! A project-scoped password token is 70 bytes of payload, 183 characters once sealed.

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::Principal;

const VERSION: u8 = 1;

const FLAG_USER_PACKED: u8 = 1;
const SCOPE_SHIFT: u8 = 1;
const SCOPE_MASK: u8 = 0b110;
const FLAG_SCOPE_PACKED: u8 = 1 << 3;
const FLAG_PARENT_AUDIT: u8 = 1 << 4;

/// Roles stored as one bit each, in bit order. Any other role travels by name.
pub(crate) const KNOWN_ROLES: [&str; 5] = ["admin", "member", "reader", "manager", "service"];

/// Authentication methods a token can record, in bit order.
pub(crate) const METHODS: [&str; 2] = ["password", "token"];

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenScope {
    /// No scope: identifies the user only, carries no roles.
    Unscoped,
    /// A project, by id.
    Project(String),
    /// A domain, by id.
    Domain(String),
    /// The whole deployment (`{"system": {"all": true}}`).
    System,
}

/// Everything a token says, once opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenPayload {
    pub user_id: String,
    pub scope: TokenScope,
    pub issued_at: i64,
    pub expires_at: i64,
    pub audit_id: [u8; 16],
    pub parent_audit_id: Option<[u8; 16]>,
    /// Bitmask over [`METHODS`].
    pub methods: u8,
    /// Effective role names (implied roles included), as stored in the role table.
    pub roles: Vec<String>,
}

/// The text form of an audit id: URL-safe base64 without padding (22 characters), as Keystone.
pub(crate) fn audit_id_text(id: &[u8; 16]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// Parses the text form of an audit id.
pub(crate) fn parse_audit_id(text: &str) -> Option<[u8; 16]> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()?;
    bytes.try_into().ok()
}

/// A fresh random audit id.
pub(crate) fn new_audit_id() -> [u8; 16] {
    rand::random()
}

/// Methods bitmask for method names; unknown names are ignored.
pub(crate) fn methods_mask<'a>(names: impl IntoIterator<Item = &'a str>) -> u8 {
    names
        .into_iter()
        .filter_map(|n| METHODS.iter().position(|m| *m == n))
        .fold(0, |mask, bit| mask | (1 << bit))
}

/// Method names of a bitmask.
pub(crate) fn method_names(mask: u8) -> Vec<&'static str> {
    METHODS.iter().enumerate().filter(|(bit, _)| mask & (1 << bit) != 0).map(|(_, m)| *m).collect()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// 16 bytes of a 32-character lowercase hex id, or None for any other id.
fn pack_hex(id: &str) -> Option<[u8; 16]> {
    let bytes = id.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
    }
    Some(out)
}

fn unpack_hex(raw: &[u8]) -> String {
    use std::fmt::Write;
    raw.iter().fold(String::with_capacity(raw.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Appends an id; returns whether it was packed.
fn put_id(out: &mut Vec<u8>, id: &str) -> Option<bool> {
    if let Some(raw) = pack_hex(id) {
        out.extend_from_slice(&raw);
        Some(true)
    } else {
        put_str(out, id)?;
        Some(false)
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Option<()> {
    let len = u8::try_from(s.len()).ok()?;
    out.push(len);
    out.extend_from_slice(s.as_bytes());
    Some(())
}

/// A cursor over payload bytes; every read fails cleanly on short input.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes16(&mut self) -> Option<[u8; 16]> {
        self.take(16)?.try_into().ok()
    }

    fn string(&mut self) -> Option<String> {
        let len = self.u8()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }

    fn id(&mut self, packed: bool) -> Option<String> {
        if packed {
            Some(unpack_hex(self.take(16)?))
        } else {
            self.string()
        }
    }
}

impl TokenPayload {
    /// The compact binary form. None if an id or role name is longer than 255 bytes.
    pub(crate) fn encode(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(96);
        out.push(VERSION);
        out.push(0); // flags, filled in below
        let mut flags = 0u8;
        if put_id(&mut out, &self.user_id)? {
            flags |= FLAG_USER_PACKED;
        }
        let (kind, scope_id) = match &self.scope {
            TokenScope::Unscoped => (0u8, None),
            TokenScope::Project(id) => (1, Some(id)),
            TokenScope::Domain(id) => (2, Some(id)),
            TokenScope::System => (3, None),
        };
        flags |= kind << SCOPE_SHIFT;
        if let Some(id) = scope_id {
            if put_id(&mut out, id)? {
                flags |= FLAG_SCOPE_PACKED;
            }
        }
        out.extend_from_slice(&self.issued_at.to_be_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        out.extend_from_slice(&self.audit_id);
        if let Some(parent) = &self.parent_audit_id {
            flags |= FLAG_PARENT_AUDIT;
            out.extend_from_slice(parent);
        }
        out.push(self.methods);
        let mut known = 0u16;
        let mut others = Vec::new();
        for role in &self.roles {
            match KNOWN_ROLES.iter().position(|k| *k == role) {
                Some(bit) => known |= 1 << bit,
                None => others.push(role.as_str()),
            }
        }
        out.extend_from_slice(&known.to_be_bytes());
        out.push(u8::try_from(others.len()).ok()?);
        for role in others {
            put_str(&mut out, role)?;
        }
        out[1] = flags;
        Some(out)
    }

    /// Parses the binary form; None for anything malformed (wrong version, short or long input).
    pub(crate) fn decode(bytes: &[u8]) -> Option<TokenPayload> {
        let mut r = Reader { buf: bytes };
        if r.u8()? != VERSION {
            return None;
        }
        let flags = r.u8()?;
        let user_id = r.id(flags & FLAG_USER_PACKED != 0)?;
        let scope = match (flags & SCOPE_MASK) >> SCOPE_SHIFT {
            0 => TokenScope::Unscoped,
            1 => TokenScope::Project(r.id(flags & FLAG_SCOPE_PACKED != 0)?),
            2 => TokenScope::Domain(r.id(flags & FLAG_SCOPE_PACKED != 0)?),
            _ => TokenScope::System,
        };
        let issued_at = r.i64()?;
        let expires_at = r.i64()?;
        let audit_id = r.bytes16()?;
        let parent_audit_id =
            if flags & FLAG_PARENT_AUDIT != 0 { Some(r.bytes16()?) } else { None };
        let methods = r.u8()?;
        let known = r.u16()?;
        let mut roles: Vec<String> = KNOWN_ROLES
            .iter()
            .enumerate()
            .filter(|(bit, _)| known & (1 << bit) != 0)
            .map(|(_, name)| name.to_string())
            .collect();
        let others = r.u8()?;
        for _ in 0..others {
            roles.push(r.string()?);
        }
        if !r.buf.is_empty() {
            return None;
        }
        Some(TokenPayload {
            user_id,
            scope,
            issued_at,
            expires_at,
            audit_id,
            parent_audit_id,
            methods,
            roles,
        })
    }

    /// The project id, or "" when not project-scoped.
    pub(crate) fn project_id(&self) -> &str {
        match &self.scope {
            TokenScope::Project(id) => id,
            _ => "",
        }
    }

    /// Audit ids as Keystone lists them: this token's, then the one it was rescoped from.
    pub(crate) fn audit_ids(&self) -> Vec<String> {
        std::iter::once(&self.audit_id).chain(&self.parent_audit_id).map(audit_id_text).collect()
    }

    /// The request context this token grants.
    pub(crate) fn principal(&self) -> Principal {
        Principal {
            user_id: self.user_id.clone(),
            project_id: self.project_id().to_string(),
            roles: self.roles.iter().map(|r| r.to_lowercase()).collect(),
            audit_id: audit_id_text(&self.audit_id),
            expires_at: micros_to_time(self.expires_at),
        }
    }
}

/// A time from microseconds since the epoch (the epoch itself if out of range).
pub(crate) fn micros_to_time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TokenPayload {
        TokenPayload {
            user_id: "8f1c4a2be3d94c1f9a0b1c2d3e4f5a6b".into(),
            scope: TokenScope::Project("3b7a0c1d2e3f40516273849506a7b890".into()),
            issued_at: 1_790_000_000_123_456,
            expires_at: 1_790_003_600_123_456,
            audit_id: [9; 16],
            parent_audit_id: None,
            methods: methods_mask(["password"]),
            roles: vec!["admin".into(), "member".into(), "reader".into()],
        }
    }

    #[test]
    fn round_trips_every_scope_and_id_form() {
        let scopes = [
            TokenScope::Unscoped,
            TokenScope::Project("3b7a0c1d2e3f40516273849506a7b890".into()),
            TokenScope::Project("not-hex-project".into()),
            TokenScope::Domain("default".into()),
            TokenScope::System,
        ];
        for scope in scopes {
            for user in ["8f1c4a2be3d94c1f9a0b1c2d3e4f5a6b", "ADMIN-USER", ""] {
                let mut p = sample();
                p.scope = scope.clone();
                p.user_id = user.into();
                p.parent_audit_id = Some([3; 16]);
                p.roles = vec!["member".into(), "reader".into(), "Custom-Role".into()];
                p.methods = methods_mask(["password", "token"]);
                let decoded = TokenPayload::decode(&p.encode().unwrap()).unwrap();
                assert_eq!(decoded, p);
            }
        }
    }

    #[test]
    fn uppercase_hex_is_not_packed_but_survives() {
        let mut p = sample();
        p.user_id = "8F1C4A2BE3D94C1F9A0B1C2D3E4F5A6B".into();
        let decoded = TokenPayload::decode(&p.encode().unwrap()).unwrap();
        assert_eq!(decoded.user_id, p.user_id);
    }

    #[test]
    fn project_token_payload_is_compact() {
        let bytes = sample().encode().unwrap();
        assert_eq!(bytes.len(), 70);
    }

    #[test]
    fn truncated_or_extended_payloads_are_refused() {
        let bytes = sample().encode().unwrap();
        for len in 0..bytes.len() {
            assert!(TokenPayload::decode(&bytes[..len]).is_none(), "prefix of {len} accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(TokenPayload::decode(&longer).is_none());
        let mut other_version = bytes;
        other_version[0] = 2;
        assert!(TokenPayload::decode(&other_version).is_none());
    }

    #[test]
    fn principal_has_lowercase_roles_and_text_audit_id() {
        let mut p = sample();
        p.roles.push("Custom-Role".into());
        let principal = p.principal();
        assert_eq!(principal.project_id, "3b7a0c1d2e3f40516273849506a7b890");
        assert_eq!(principal.roles, ["admin", "member", "reader", "custom-role"]);
        assert_eq!(principal.audit_id.len(), 22);
        assert_eq!(parse_audit_id(&principal.audit_id), Some([9; 16]));
        assert_eq!(principal.expires_at.timestamp_micros(), p.expires_at);
    }

    #[test]
    fn methods_round_trip_and_ignore_unknown() {
        assert_eq!(
            method_names(methods_mask(["token", "password", "totp"])),
            ["password", "token"]
        );
        assert_eq!(methods_mask(["totp"]), 0);
    }
}
