//! Typed, layered configuration: compiled-in defaults, then an optional TOML
//! file (`BEAVER_CONFIG`, default `beaver.toml` if present), then `BEAVER_*`
//! environment variables (`BEAVER_DATABASE_URL` sets `database_url`; `__`
//! separates nested keys). Loading fails fast on a wrong type.

use anyhow::Context;
use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{de::DeserializeOwned, Serialize};

/// Loads a tier's configuration struct from the layers above.
pub fn load<C: Serialize + DeserializeOwned + Default>() -> anyhow::Result<C> {
    let file = std::env::var("BEAVER_CONFIG").unwrap_or_else(|_| "beaver.toml".to_owned());
    Figment::from(Serialized::defaults(C::default()))
        .merge(Toml::file(file))
        .merge(Env::prefixed("BEAVER_").split("__"))
        .extract()
        .context("Failed to load configuration")
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

    #[test]
    fn a_wrongly_typed_variable_fails_loading() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BEAVER_WORKERS", "many");
            assert!(load::<Sample>().is_err());
            Ok(())
        });
    }
}
