//! Stub providers (OTP codes written to the log, and later the payment stub) exist for
//! local development. In production a stub is an account-takeover path: anyone who can
//! read the logs can sign in as any phone. So on Cloud Run (the platform sets `K_SERVICE`)
//! a service refuses to start with a stub unless the loudly named opt-in
//! `ALLOW_STUB_PROVIDERS_IN_PRODUCTION=true` is set, and no deploy file sets it (a test
//! holds them to that). Every stub asks the same [`StubPolicy`].

use super::ConfigError;

/// The variable Cloud Run sets on every service revision.
pub const CLOUD_RUN_MARKER: &str = "K_SERVICE";
/// The variable Cloud Run sets in every job's tasks (`reconcile-payments`, …).
pub const CLOUD_RUN_JOB_MARKER: &str = "CLOUD_RUN_JOB";
/// The opt-in; meant for a throwaway staging project, never for production.
pub const OPT_IN: &str = "ALLOW_STUB_PROVIDERS_IN_PRODUCTION";

/// Whether this process may run stub providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StubPolicy {
    pub on_cloud_run: bool,
    pub opted_in: bool,
}

impl StubPolicy {
    /// Reads `K_SERVICE` and `CLOUD_RUN_JOB` (a job is Cloud Run too); `opted_in` is
    /// `ALLOW_STUB_PROVIDERS_IN_PRODUCTION` as parsed by clap.
    pub fn from_env(opted_in: bool) -> Self {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let on_cloud_run = set(CLOUD_RUN_MARKER) || set(CLOUD_RUN_JOB_MARKER);
        Self { on_cloud_run, opted_in }
    }

    /// Refuses the stub named by `setting` (e.g. `OTP_PROVIDER=stub`) on Cloud Run unless
    /// opted in; an allowed stub in production is logged as an error at every start.
    pub fn allow(&self, setting: &'static str) -> Result<(), ConfigError> {
        match (self.on_cloud_run, self.opted_in) {
            (false, _) => Ok(()),
            (true, false) => Err(ConfigError::StubInProduction(setting)),
            (true, true) => {
                tracing::error!("{setting} on Cloud Run because {OPT_IN}=true: never do this with real users");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stub_is_refused_on_cloud_run_unless_opted_in_and_allowed_elsewhere() {
        let policy = |on_cloud_run, opted_in| StubPolicy { on_cloud_run, opted_in };
        assert!(policy(false, false).allow("OTP_PROVIDER=stub").is_ok());
        assert!(policy(true, true).allow("OTP_PROVIDER=stub").is_ok());
        let refused = policy(true, false).allow("PAYMENT_PROVIDER=stub").expect_err("refused");
        let message = refused.to_string();
        assert!(message.contains("PAYMENT_PROVIDER=stub") && message.contains(OPT_IN), "{message}");
    }
}
