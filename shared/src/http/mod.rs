//! The HTTP edge both services share: request ids, the request log line, client
//! address, body limit, timeout and the JSON error mapper, plus the listener with
//! graceful shutdown.

mod client;
mod edge;
pub mod health;
pub mod json;
mod server;
pub mod token_response;

pub use client::{rate_limit_key, ClientInfo, DEFAULT_IPV6_PREFIX};
pub use edge::{client_info_of, with_edge, EdgeConfig};
pub use server::{shutdown_signal, Server};
