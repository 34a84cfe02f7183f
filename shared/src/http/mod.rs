//! The HTTP edge both services share: request ids, the request log line, client
//! address, body limit, timeout and the JSON error mapper, plus the listener with
//! graceful shutdown.

mod edge;
pub mod health;
mod server;

pub use edge::{client_info_of, rate_limit_key, with_edge, ClientInfo, EdgeConfig, DEFAULT_IPV6_PREFIX};
pub use server::{shutdown_signal, Server};
