//! Typed, layered configuration: compiled-in defaults, then an optional TOML
//! file (`BEAVER_CONFIG`, default `beaver.toml` if present), then `BEAVER_*`
//! environment variables (`BEAVER_DATABASE_URL` sets `database_url`; `__`
//! separates nested keys). Loading fails fast on a wrong type.

use anyhow::Context;
use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Loads a tier's configuration struct from the layers above.
pub fn load<C: Serialize + DeserializeOwned + Default>() -> anyhow::Result<C> {
    let file = std::env::var("BEAVER_CONFIG").unwrap_or_else(|_| "beaver.toml".to_owned());
    Figment::from(Serialized::defaults(C::default()))
        .merge(Toml::file(file))
        .merge(Env::prefixed("BEAVER_").split("__"))
        .extract()
        .context("Failed to load configuration")
}

/// Where MariaDB is when `database_url` is not set (the `deploy/up` stack).
pub const DEFAULT_DATABASE_URL: &str = "mysql://beaver:beaver@127.0.0.1:3306/beaver";
/// Where Redis is when `redis_url` is not set.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Where Kafka is when `kafka_brokers` is not set.
pub const DEFAULT_KAFKA_BROKERS: &str = "127.0.0.1:9092";

/// The settings every tier shares. Each tier's `Config` embeds it with
/// `#[serde(flatten)]`, so its keys stay top-level: `BEAVER_DATABASE_URL`
/// (or `database_url` in the TOML file) sets `common.database_url` exactly as
/// it set the tier's own field before. A tier ignores what it does not use
/// (query-api never reads `kafka_brokers`).
///
/// The URLs may carry passwords, so they are [`Secret`]s: a logged or
/// dumped configuration never shows them. A `Secret`'s default is empty
/// (it serialises as `""`), so the loopback defaults live in
/// [`Common::database_url`] and [`Common::redis_url`], which every use goes
/// through.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Common {
    /// Where the tier serves HTTP (its API, or only `/healthz` and
    /// `/metrics`); each tier's default names its own port.
    pub http_addr: String,
    pub kafka_brokers: String,
    /// `mysql://user:password@host:port/database`; empty means [`DEFAULT_DATABASE_URL`].
    pub database_url: Secret,
    /// `redis://[:password@]host:port[/db]`; empty means [`DEFAULT_REDIS_URL`].
    pub redis_url: Secret,
    /// HS256 secret for access tokens, the same in every tier that issues or
    /// verifies them (commands, query-api, ws-push).
    pub jwt_secret: Secret,
    /// File holding the secret (wins over `jwt_secret`); `deploy/up` makes one
    /// per installation. Without either a tier that checks tokens refuses to
    /// start; see [`crate::auth::load_secret`].
    pub jwt_secret_file: String,
    /// The process's namespace for Kafka topics, consumer groups,
    /// transactional ids and Redis keys (`beaver_events::topics`, "Namespace").
    /// Empty in production; an in-process test stack sets its own so that it
    /// shares Kafka and Redis with the live stack unseen.
    pub topic_prefix: String,
    /// Where uploaded files are stored: a directory (`deploy/up` sets
    /// `$BEAVER_STATE_DIR/files`); empty means `.state/files`. Used by
    /// commands and query-api.
    pub file_store: String,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            http_addr: String::new(),
            kafka_brokers: DEFAULT_KAFKA_BROKERS.into(),
            database_url: Secret::default(),
            redis_url: Secret::default(),
            jwt_secret: Secret::default(),
            jwt_secret_file: String::new(),
            topic_prefix: String::new(),
            file_store: String::new(),
        }
    }
}

impl Common {
    /// The file store's directory.
    pub fn file_store_dir(&self) -> &str {
        if self.file_store.is_empty() {
            ".state/files"
        } else {
            &self.file_store
        }
    }

    /// The defaults with a tier's own HTTP address.
    pub fn serving(http_addr: &str) -> Self {
        Common { http_addr: http_addr.into(), ..Default::default() }
    }

    /// The MariaDB URL to connect to: the configured one, else [`DEFAULT_DATABASE_URL`].
    pub fn database_url(&self) -> &str {
        or_default(&self.database_url, DEFAULT_DATABASE_URL)
    }

    /// The Redis URL to connect to: the configured one, else [`DEFAULT_REDIS_URL`].
    pub fn redis_url(&self) -> &str {
        or_default(&self.redis_url, DEFAULT_REDIS_URL)
    }

    /// The JWT signing secret, refused when missing, or when it is the
    /// development secret or short and `BEAVER_DEV_INSECURE=1` is not set
    /// ([`crate::auth::load_secret`]): production never runs with a known key.
    pub fn jwt_secret(&self) -> anyhow::Result<String> {
        crate::auth::load_secret(self.jwt_secret.expose(), &self.jwt_secret_file, crate::auth::dev_insecure())
    }

    /// Fixes this process's namespace to `topic_prefix`; fails if the process
    /// already serves another one. Every tier calls it before touching Kafka or Redis.
    pub fn enter_namespace(&self) -> anyhow::Result<()> {
        beaver_events::topics::set_namespace(&self.topic_prefix)?;
        Ok(())
    }
}

fn or_default<'a>(value: &'a Secret, default: &'a str) -> &'a str {
    if value.is_empty() {
        default
    } else {
        value.expose()
    }
}

/// A configuration value that must never leave the process: it is read
/// from the layers like any other field, but `Debug` prints `[redacted]` and
/// serialising writes an empty string, so neither a logged config nor a
/// dumped one carries it. Defaults of a `Secret` field are therefore empty.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that uses it (e.g. the JWT key).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "[empty]" } else { "[redacted]" })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
// figment's Jail takes closures returning its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Default, Debug)]
    struct Sample {
        http_addr: String,
        workers: u32,
    }

    #[test]
    fn environment_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BEAVER_WORKERS", "7");
            let c: Sample = load().unwrap();
            assert_eq!(c.workers, 7);
            assert_eq!(c.http_addr, "");
            Ok(())
        });
    }

    #[derive(Serialize, Deserialize, Default, Debug)]
    struct WithSecret {
        jwt_secret: Secret,
    }

    #[test]
    fn a_secret_loads_from_the_environment_but_never_prints_or_serialises() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BEAVER_JWT_SECRET", "s3cr3t-value-of-some-length");
            let c: WithSecret = load().unwrap();
            assert_eq!(c.jwt_secret.expose(), "s3cr3t-value-of-some-length");
            assert!(!format!("{c:?}").contains("s3cr3t"), "{c:?}");
            assert!(!serde_json::to_string(&c).unwrap().contains("s3cr3t"));
            Ok(())
        });
    }

    /// A tier's shape: its own fields and the common section, flattened.
    #[derive(Serialize, Deserialize, Debug)]
    #[serde(default)]
    struct Tier {
        #[serde(flatten)]
        common: Common,
        workers: u32,
    }

    impl Default for Tier {
        fn default() -> Self {
            Tier { common: Common::serving("127.0.0.1:21099"), workers: 3 }
        }
    }

    #[test]
    fn flattened_common_fields_keep_their_top_level_variables() {
        figment::Jail::expect_with(|jail| {
            // deploy/test exports the stack's BEAVER_* variables; start from none.
            jail.clear_env();
            jail.set_env("BEAVER_DATABASE_URL", "mysql://app:hunter2-db@db.internal:3306/beaver");
            jail.set_env("BEAVER_KAFKA_BROKERS", "k1:9092,k2:9092");
            jail.set_env("BEAVER_WORKERS", "5");
            let c: Tier = load().unwrap();
            assert_eq!(c.common.database_url(), "mysql://app:hunter2-db@db.internal:3306/beaver");
            assert_eq!(c.common.kafka_brokers, "k1:9092,k2:9092");
            assert_eq!(c.workers, 5);
            // Untouched fields keep the tier's defaults.
            assert_eq!(c.common.http_addr, "127.0.0.1:21099");
            assert_eq!(c.common.redis_url(), DEFAULT_REDIS_URL);
            Ok(())
        });
    }

    #[test]
    fn flattened_common_fields_load_from_the_toml_file_too() {
        figment::Jail::expect_with(|jail| {
            // deploy/test exports the stack's BEAVER_* variables; start from none.
            jail.clear_env();
            jail.create_file("beaver.toml", "redis_url = \"redis://:pw-in-file@cache:6379/3\"\nhttp_addr = \"0.0.0.0:80\"\n")?;
            let c: Tier = load().unwrap();
            assert_eq!(c.common.redis_url(), "redis://:pw-in-file@cache:6379/3");
            assert_eq!(c.common.http_addr, "0.0.0.0:80");
            assert_eq!(c.common.database_url(), DEFAULT_DATABASE_URL, "an unset URL is the loopback default");
            Ok(())
        });
    }

    #[test]
    fn a_tier_config_never_prints_a_password() {
        figment::Jail::expect_with(|jail| {
            // deploy/test exports the stack's BEAVER_* variables; start from none.
            jail.clear_env();
            jail.set_env("BEAVER_DATABASE_URL", "mysql://app:hunter2-db@db:3306/beaver");
            jail.set_env("BEAVER_REDIS_URL", "redis://:hunter2-redis@cache:6379");
            jail.set_env("BEAVER_JWT_SECRET", "hunter2-jwt-secret-of-enough-length");
            let c: Tier = load().unwrap();
            let shown = format!("{c:?} {c:#?}");
            let dumped = serde_json::to_string(&c).unwrap();
            for leak in ["hunter2", "app:"] {
                assert!(!shown.contains(leak), "Debug shows {leak}: {shown}");
                assert!(!dumped.contains(leak), "serialising shows {leak}: {dumped}");
            }
            Ok(())
        });
    }

    #[test]
    fn a_tier_refuses_the_development_jwt_secret_unless_told_this_is_a_development_stack() {
        figment::Jail::expect_with(|jail| {
            // deploy/test exports the stack's BEAVER_* variables; start from none.
            jail.clear_env();
            jail.set_env("BEAVER_JWT_SECRET", crate::auth::DEV_JWT_SECRET);
            let c: Tier = load().unwrap();
            // BEAVER_DEV_INSECURE is read from the process environment, which
            // Jail restores afterwards.
            jail.set_env("BEAVER_DEV_INSECURE", "0");
            let refused = c.common.jwt_secret().unwrap_err();
            assert!(format!("{refused:#}").contains("refusing the development"), "{refused:#}");
            jail.set_env("BEAVER_DEV_INSECURE", "1");
            assert_eq!(c.common.jwt_secret().unwrap(), crate::auth::DEV_JWT_SECRET);
            Ok(())
        });
    }

    #[test]
    fn a_wrongly_typed_variable_fails_loading() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BEAVER_WORKERS", "many");
            assert!(load::<Sample>().is_err());
            Ok(())
        });
    }
}
