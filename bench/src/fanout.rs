//! `fanout`: group messages delivered to every online member. (Being written.)

use crate::common::*;
use anyhow::{bail, Result};
use clap::Args;
use std::{path::PathBuf, sync::Arc};

#[derive(Args)]
pub(crate) struct FanoutArgs {}

pub(crate) async fn fanout_scenario(_c: Arc<Client>, _pid_dir: PathBuf, _a: FanoutArgs) -> Result<()> {
    bail!("not written yet")
}
