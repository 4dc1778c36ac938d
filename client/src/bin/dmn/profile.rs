//! Where `dmn` finds its relay and chain: flags, then environment, then a profile file.
//!
//! The profile is TOML: `endpoint` (the relay's URL), `token` (its API token),
//! `ca_cert` (PEM certificates to trust for the relay's HTTPS, beside the system's: a
//! private CA) and `deploy_state` (the deploy state file naming the chain node and the
//! contract, for the commands that talk to the chain directly). `--profile`, or `DMN_PROFILE`, names it;
//! otherwise `$XDG_CONFIG_HOME/dmn/profile.toml` (or `~/.config/dmn/profile.toml`) is
//! read when it exists.

use crate::CliError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The profile file's fields; each is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The relay's base URL.
    pub endpoint: Option<String>,
    /// The relay's API token.
    pub token: Option<String>,
    /// PEM certificates to trust for the relay's HTTPS (a private CA).
    pub ca_cert: Option<PathBuf>,
    /// The deploy state file (chain URL and contract address).
    pub deploy_state: Option<PathBuf>,
}

impl Profile {
    /// Reads `explicit`, or the default profile when it exists.
    pub fn load(explicit: Option<&Path>) -> Result<Self, CliError> {
        let path = match explicit {
            Some(path) => path.to_owned(),
            None => match default_path() {
                Some(path) if path.exists() => path,
                _ => return Ok(Self::default()),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            CliError::usage(format!("cannot read the profile {}: {e}", path.display()))
        })?;
        toml::from_str(&text).map_err(|e| {
            CliError::usage(format!("the profile {} is not valid: {e}", path.display()))
        })
    }
}

fn default_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("dmn").join("profile.toml"))
}
