//! `rebuild`: replay message events from offset 0 into fresh read models. (Being written.)

use crate::common::*;
use anyhow::{bail, Result};
use clap::Args;
use std::{path::PathBuf, sync::Arc};

#[derive(Args)]
pub(crate) struct RebuildArgs {}

pub(crate) async fn rebuild_scenario(_c: Arc<Client>, _pid_dir: PathBuf, _a: RebuildArgs) -> Result<()> {
    bail!("not written yet")
}
