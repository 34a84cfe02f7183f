//! The Cloud Run definitions in deploy/ keep the invariants that matter. No Docker engine
//! or Google project here, so this is what can be proven: the YAML says what it must.

use std::collections::BTreeSet;

use yaml_rust2::{Yaml, YamlLoader};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn load(file: &str) -> Yaml {
    let text = std::fs::read_to_string(format!("{ROOT}/deploy/{file}")).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

/// Follows a path of keys (or list indexes as numbers).
fn at<'a>(doc: &'a Yaml, path: &[&str]) -> &'a Yaml {
    path.iter().fold(doc, |node, key| match key.parse::<usize>() {
        Ok(i) => &node[i],
        Err(_) => &node[*key],
    })
}

fn text<'a>(doc: &'a Yaml, path: &[&str]) -> &'a str {
    at(doc, path).as_str().unwrap_or_else(|| panic!("{} is not a string", path.join(".")))
}

const SERVICE_CONTAINER: &[&str] = &["spec", "template", "spec", "containers", "0"];
const JOB_CONTAINER: &[&str] = &["spec", "template", "spec", "template", "spec", "containers", "0"];

/// Env var names a container sets, checking that every secret comes from Secret Manager
/// at a pinned version and never as a literal.
fn env_names(container: &Yaml) -> BTreeSet<String> {
    let secret = |name: &str| {
        ["DATABASE_URL", "AUTH_JWT_SECRET", "OTP_HTTP_TOKEN", "CC_USER_PASSWORD", "XENDIT_SECRET_KEY"].contains(&name)
            || name.ends_with("_SECRET")
            || name.ends_with("_PASSWORD")
            || name.ends_with("_TOKEN")
    };
    let mut names = BTreeSet::new();
    for entry in container["env"].as_vec().expect("env list") {
        let name = entry["name"].as_str().expect("env name");
        if secret(name) {
            assert!(entry["value"].is_badvalue(), "{name} must not be inline");
            let version = entry["valueFrom"]["secretKeyRef"]["key"].as_str().expect("a secretKeyRef");
            assert!(version.parse::<u32>().is_ok(), "{name} must pin a secret version, not {version:?}");
        }
        names.insert(name.to_owned());
    }
    names
}

/// The GET paths of a committed spec.
fn spec_paths(service: &str) -> BTreeSet<String> {
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{ROOT}/openapi/{service}.json")).unwrap()).unwrap();
    spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, ops)| ops.get("get").is_some())
        .map(|(path, _)| path.clone())
        .collect()
}

fn check_service(file: &str, service: &str, ingress: &str) -> Yaml {
    let doc = load(file);
    assert_eq!(text(&doc, &["metadata", "name"]), service);
    assert_eq!(text(&doc, &["metadata", "annotations", "run.googleapis.com/ingress"]), ingress);
    let annotations = at(&doc, &["spec", "template", "metadata", "annotations"]);
    assert_eq!(annotations["run.googleapis.com/cloudsql-instances"].as_str(), Some("${SQL_INSTANCE}"));
    assert!(text(&doc, &["spec", "template", "spec", "serviceAccountName"]).starts_with(&format!("halo-{service}@")));

    let container = at(&doc, SERVICE_CONTAINER);
    assert!(text(container, &["image"]).contains(&format!("/{service}:")));
    let env = env_names(container);
    for required in ["DATABASE_URL", "AUTH_JWT_SECRET"] {
        assert!(env.contains(required), "{file} does not set {required}");
    }
    let paths = spec_paths(service);
    for probe in ["startupProbe", "livenessProbe"] {
        let path = text(container, &[probe, "httpGet", "path"]);
        assert!(paths.contains(path), "{file}: {probe} path {path} is not a route of {service}");
    }
    doc
}

#[test]
fn the_public_gateway_is_open_to_the_internet_and_sources_its_secrets() {
    check_service("public-gateway.yaml", "public-gateway", "all");
}

/// The Secret Manager entry a container's env var `name` comes from.
fn secret_of(container: &Yaml, name: &str) -> String {
    let entry = container["env"].as_vec().unwrap().iter().find(|e| e["name"].as_str() == Some(name));
    let entry = entry.unwrap_or_else(|| panic!("{name} is not set"));
    entry["valueFrom"]["secretKeyRef"]["name"].as_str().expect("a secret").to_owned()
}

#[test]
fn each_service_signs_with_its_own_secret_and_only_migrations_run_as_the_schema_owner() {
    let gateway = load("public-gateway.yaml");
    let staff = load("internal-cc.yaml");
    let (gateway, staff) = (at(&gateway, SERVICE_CONTAINER), at(&staff, SERVICE_CONTAINER));
    assert_eq!(secret_of(gateway, "AUTH_JWT_SECRET"), "halo-gateway-jwt-secret");
    assert_eq!(secret_of(staff, "AUTH_JWT_SECRET"), "halo-cc-jwt-secret");

    let migrate = load("migrate-job.yaml");
    assert_eq!(secret_of(at(&migrate, JOB_CONTAINER), "DATABASE_URL"), "halo-owner-database-url");
    assert!(text(&migrate, &["spec", "template", "spec", "template", "spec", "serviceAccountName"])
        .starts_with("halo-migrate@"));
    for file in ["create-cc-user-job.yaml", "reconcile-payments-job.yaml", "release-earnings-job.yaml"] {
        let job = load(file);
        assert_eq!(secret_of(at(&job, JOB_CONTAINER), "DATABASE_URL"), "halo-database-url", "{file}");
    }
    for container in [gateway, staff] {
        assert_eq!(secret_of(container, "DATABASE_URL"), "halo-database-url");
        let env = env_names(container);
        assert!(env.contains("REVOCATION_STALE_TRUST_SECONDS"));
        let run = container["env"].as_vec().unwrap().iter().find(|e| e["name"].as_str() == Some("RUN_MIGRATIONS"));
        assert_eq!(run.and_then(|e| e["value"].as_str()), Some("false"), "the runtime user cannot migrate");
    }
    let guide = std::fs::read_to_string(format!("{ROOT}/deploy/README.md")).unwrap();
    for needed in ["GRANT halo_app TO halo_runtime", "halo-owner-database-url", "halo-cc-jwt-secret"] {
        assert!(guide.contains(needed), "deploy/README.md does not say {needed}");
    }
}

#[test]
fn no_deploy_file_ships_a_stub_provider_or_the_opt_in_that_would_let_one_start() {
    let mut files = 0;
    for entry in std::fs::read_dir(format!("{ROOT}/deploy")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        files += 1;
        let doc = YamlLoader::load_from_str(&std::fs::read_to_string(&path).unwrap()).unwrap().remove(0);
        for container_path in [SERVICE_CONTAINER, JOB_CONTAINER] {
            let Some(env) = at(&doc, container_path)["env"].as_vec() else { continue };
            for entry in env {
                let name = entry["name"].as_str().unwrap_or_default();
                let value = entry["value"].as_str().unwrap_or_default();
                assert_ne!(name, "ALLOW_STUB_PROVIDERS_IN_PRODUCTION", "{path:?} sets the stub opt-in");
                assert!(
                    !(name.ends_with("_PROVIDER") && value.eq_ignore_ascii_case("stub")),
                    "{path:?} sets {name}=stub"
                );
            }
        }
    }
    assert!(files >= 4, "the deploy YAML files were not found");
    let gateway = load("public-gateway.yaml");
    let env = env_names(at(&gateway, SERVICE_CONTAINER));
    for name in ["OTP_PROVIDER", "OTP_HTTP_URL", "OTP_HTTP_TOKEN"] {
        assert!(env.contains(name), "public-gateway.yaml does not set {name}");
    }
}

#[test]
fn the_control_center_is_internal_only_and_listens_on_all_interfaces_inside_its_container() {
    let doc = check_service("internal-cc.yaml", "internal-cc", "internal");
    let env = at(&doc, &[SERVICE_CONTAINER, &["env"]].concat());
    let host = env.as_vec().unwrap().iter().find(|e| e["name"].as_str() == Some("HOST")).expect("HOST is set");
    assert_eq!(host["value"].as_str(), Some("0.0.0.0"));
}

#[test]
fn the_migration_job_runs_migrate_with_the_database_url() {
    let doc = load("migrate-job.yaml");
    assert_eq!(text(&doc, &["kind"]), "Job");
    let container = at(&doc, JOB_CONTAINER);
    assert!(text(container, &["image"]).contains("/public-gateway:"));
    let args: Vec<&str> = container["args"].as_vec().unwrap().iter().filter_map(Yaml::as_str).collect();
    assert_eq!(args, ["migrate"]);
    assert!(env_names(container).contains("DATABASE_URL"));
    assert_eq!(
        at(&doc, &["spec", "template", "metadata", "annotations", "run.googleapis.com/cloudsql-instances"]).as_str(),
        Some("${SQL_INSTANCE}")
    );
}

#[test]
fn payments_use_xendit_with_secrets_in_the_service_and_the_reconciliation_job() {
    let service = load("public-gateway.yaml");
    let staff = load("internal-cc.yaml");
    let job = load("reconcile-payments-job.yaml");
    let job_container = at(&job, JOB_CONTAINER);
    let args: Vec<&str> = job_container["args"].as_vec().unwrap().iter().filter_map(Yaml::as_str).collect();
    assert_eq!(args, ["reconcile-payments"]);
    for container in [at(&service, SERVICE_CONTAINER), at(&staff, SERVICE_CONTAINER), job_container] {
        let env = env_names(container);
        for name in ["XENDIT_SECRET_KEY", "XENDIT_CALLBACK_TOKEN", "PAYMENT_PROVIDER"] {
            assert!(env.contains(name), "{name} is not set");
        }
        let provider =
            container["env"].as_vec().unwrap().iter().find(|e| e["name"].as_str() == Some("PAYMENT_PROVIDER"));
        assert_eq!(provider.and_then(|e| e["value"].as_str()), Some("xendit"), "never the stub in production");
    }
}

/// What a scheduled Cloud Run job sets, once checked that it runs `verb`, reaches the
/// database through the Cloud SQL connector, and that deploy/README.md schedules it
/// (`gcloud scheduler … jobs/<job_name>:run`).
struct ScheduledJob {
    env: BTreeSet<String>,
    payment_provider: Option<String>,
    guide: String,
}

fn scheduled_job(file: &str, verb: &str, job_name: &str) -> ScheduledJob {
    let job = load(file);
    let container = at(&job, JOB_CONTAINER);
    let args: Vec<&str> = container["args"].as_vec().unwrap().iter().filter_map(Yaml::as_str).collect();
    assert_eq!(args, [verb], "{file}");
    assert_eq!(
        at(&job, &["spec", "template", "metadata", "annotations", "run.googleapis.com/cloudsql-instances"]).as_str(),
        Some("${SQL_INSTANCE}"),
        "{file} reaches the database"
    );
    let guide = std::fs::read_to_string(format!("{ROOT}/deploy/README.md")).unwrap();
    assert!(guide.contains(&format!("jobs/{job_name}:run")), "deploy/README.md schedules {job_name}");
    let payment_provider = container["env"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some("PAYMENT_PROVIDER"))
        .and_then(|e| e["value"].as_str())
        .map(str::to_owned);
    ScheduledJob { env: env_names(container), payment_provider, guide }
}

#[test]
fn earnings_are_released_by_a_job_that_needs_only_the_database() {
    let job = scheduled_job("release-earnings-job.yaml", "release-earnings", "halo-release-earnings");
    assert!(job.env.contains("DATABASE_URL"), "the job reads the database URL");
    assert!(!job.env.contains("XENDIT_SECRET_KEY"), "it calls no third party, so it holds no Xendit key");
}

#[test]
fn expired_data_is_purged_daily_by_a_job_that_needs_only_the_database() {
    let job = scheduled_job("purge-job.yaml", "purge", "halo-purge");
    assert!(job.env.contains("DATABASE_URL"), "the job reads the database URL");
    assert!(!job.env.contains("XENDIT_SECRET_KEY"), "it calls no third party, so it holds no Xendit key");
}

#[test]
fn the_timed_order_moves_run_as_a_job_every_minute_with_xendit_for_their_refunds() {
    let job = scheduled_job("sweep-orders-job.yaml", "sweep-orders", "halo-sweep-orders");
    for name in
        ["DATABASE_URL", "XENDIT_SECRET_KEY", "XENDIT_CALLBACK_TOKEN", "PAYMENT_PROVIDER", "ACCEPT_TIMEOUT_SECONDS"]
    {
        assert!(job.env.contains(name), "{name} is not set");
    }
    assert_eq!(job.payment_provider.as_deref(), Some("xendit"), "never the stub in production");
    assert!(job.guide.contains("--schedule=\"* * * * *\""), "every minute");
}

#[test]
fn payouts_are_run_weekly_by_a_job_with_the_xendit_secrets_and_never_the_stub() {
    let job = scheduled_job("run-payouts-job.yaml", "run-payouts", "halo-run-payouts");
    for name in [
        "DATABASE_URL",
        "XENDIT_SECRET_KEY",
        "XENDIT_CALLBACK_TOKEN",
        "PAYOUT_MINIMUM",
        "PAYOUT_ACCOUNT_COOLDOWN_HOURS",
    ] {
        assert!(job.env.contains(name), "{name} is not set");
    }
    assert_eq!(job.payment_provider.as_deref(), Some("xendit"), "never the stub in production");
}

#[test]
fn the_staff_bootstrap_job_reads_the_password_from_a_secret() {
    let doc = load("create-cc-user-job.yaml");
    let container = at(&doc, JOB_CONTAINER);
    let args: Vec<&str> = container["args"].as_vec().unwrap().iter().filter_map(Yaml::as_str).collect();
    assert_eq!(args.first(), Some(&"create-cc-user"));
    let env = env_names(container);
    assert!(env.contains("DATABASE_URL") && env.contains("CC_USER_PASSWORD"));
}

#[test]
fn the_image_build_knows_every_workspace_member() {
    let manifest = std::fs::read_to_string(format!("{ROOT}/Cargo.toml")).unwrap();
    let members_line = manifest.lines().find(|l| l.trim_start().starts_with("members")).expect("members");
    let dockerfile = std::fs::read_to_string(format!("{ROOT}/deploy/Dockerfile")).unwrap();
    for member in members_line.split('"').skip(1).step_by(2) {
        assert!(
            dockerfile.contains(&format!("COPY {member}/Cargo.toml {member}/")),
            "deploy/Dockerfile's dependency layer does not copy {member}/Cargo.toml: the build would fail"
        );
    }
}
