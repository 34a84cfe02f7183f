//! What every response carrying tokens shares: the token type, and the headers that
//! keep tokens out of caches (RFC 6749 §5.1).

use poem_openapi::Enum;

/// How to present the access token: always `Bearer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum TokenType {
    Bearer,
}

/// `Cache-Control` of every token response.
pub const NO_STORE: &str = "no-store";
/// `Pragma` of every token response, for HTTP/1.0 caches.
pub const NO_CACHE: &str = "no-cache";
