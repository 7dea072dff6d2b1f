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

    #[test]
    fn a_wrongly_typed_variable_fails_loading() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BEAVER_WORKERS", "many");
            assert!(load::<Sample>().is_err());
            Ok(())
        });
    }
}
