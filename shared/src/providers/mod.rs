//! Clients of the companies we depend on, and nothing of what we do with them: the SMS
//! gateway that sends one-time codes (`sms`), Google's and Apple's ID-token keys
//! (`oidc`), and Apple's token and revoke endpoints with the outbox of grants to revoke
//! (`apple`), and Xendit (`xendit`, behind the `payments` client that also runs the
//! local stub).
//! The domain modules decide when to call them; the state holds one of each.

pub mod apple;
pub mod oidc;
pub mod payments;
pub mod sms;
pub mod xendit;
