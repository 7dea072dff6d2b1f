//! `release publish|rollout|withdraw` and `announce`: what operators
//! publish for every client (docs/services.md, "System"). Each is decided by
//! `beaver_writemodel::domain::system` against the releases in the read
//! model and appended to `beaver.system.v1` with the operator as actor.

use crate::{operate, Global};
use beaver_readmodel::system as read;
use beaver_writemodel::domain::{
    system::{self as rules, Announce, Publish, ReleaseState},
    Ctx,
};
use clap::Subcommand;
use serde::Serialize;
use std::process::ExitCode;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Publish a new release of an app on one platform.
    ///
    ///   beaver-admin release publish --app beaver --platform ios --version 2.1.0 \
    ///     --url https://dl.example/beaver-2.1.0.ipa --sha256 <64 hex> --size 48123904 \
    ///     --min-supported 2.0.0 --rollout 10
    ///
    /// GET /api/system/app-version then offers it to the 10 % of devices whose
    /// stable bucket falls under the rollout; a client below --min-supported
    /// must update.
    #[command(verbatim_doc_comment, disable_version_flag = true)]
    Publish {
        /// The app id (a-z 0-9 . _ -).
        #[arg(long)]
        app: String,
        /// ios, android, web, desktop, mac or windows.
        #[arg(long)]
        platform: String,
        /// The semantic version of the release.
        #[arg(long = "version", id = "release_version", value_name = "SEMVER")]
        version: String,
        /// Where clients download it (https).
        #[arg(long)]
        url: String,
        /// SHA-256 of the download, hex.
        #[arg(long)]
        sha256: String,
        /// Size of the download in bytes.
        #[arg(long)]
        size: u64,
        /// Release notes shown to users.
        #[arg(long)]
        notes: Option<String>,
        /// Clients below this version must update.
        #[arg(long)]
        min_supported: Option<String>,
        /// Percentage of devices offered the release (0–100).
        #[arg(long, default_value_t = 100)]
        rollout: u8,
    },
    /// Change the percentage of devices offered a release (raising it only adds devices).
    #[command(disable_version_flag = true)]
    Rollout {
        app: String,
        platform: String,
        #[arg(id = "release_version", value_name = "VERSION")]
        version: String,
        percent: u8,
    },
    /// Stop offering a release; the one before it is offered instead.
    #[command(disable_version_flag = true)]
    Withdraw {
        app: String,
        platform: String,
        #[arg(id = "release_version", value_name = "VERSION")]
        version: String,
    },
}

/// `announce`: a message to every connected client of the platforms, and in
/// GET /api/system/announcements while it is current.
#[derive(Debug, clap::Args)]
pub struct AnnounceArgs {
    /// 1–100 characters.
    #[arg(long)]
    title: String,
    /// 1–2,000 characters.
    #[arg(long)]
    body: String,
    /// Comma-separated platforms (default: every platform).
    #[arg(long, value_delimiter = ',')]
    platforms: Vec<String>,
    /// When it starts (RFC 3339; default now). Connected clients get it then.
    #[arg(long)]
    starts_at: Option<String>,
    /// When it ends (RFC 3339; default never).
    #[arg(long)]
    ends_at: Option<String>,
    /// Also put it in every user's inbox once it starts (an item per user,
    /// which reaches offline users as a push too); without it, connected
    /// clients get the frame and everyone the listing.
    #[arg(long)]
    inbox: bool,
}

#[derive(Debug, Serialize)]
struct Outcome {
    event: Option<serde_json::Value>,
    appended: bool,
}

async fn existing(global: &Global, app: &str, platform: &str) -> anyhow::Result<Vec<ReleaseState>> {
    let pool = operate::database(global).await?;
    Ok(read::releases(&pool, app, platform)
        .await?
        .into_iter()
        .map(|r| ReleaseState { version: r.version, rollout_percent: r.rollout_percent.clamp(0, 100) as u8, withdrawn: r.withdrawn })
        .collect())
}

async fn finish(global: &Global, operator: &str, events: Vec<beaver_events::SystemEvent>) -> anyhow::Result<ExitCode> {
    let shown = events.first().map(serde_json::to_value).transpose()?;
    let appended = operate::append(global, operator, events).await? > 0;
    if global.json {
        println!("{}", serde_json::to_string(&Outcome { event: shown, appended })?);
    } else if let (true, Some(event)) = (appended, shown) {
        println!("appended {} by {operator}: {event}", event["type"].as_str().unwrap_or("event"));
    } else {
        println!("unchanged");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn release(global: &Global, cmd: ReleaseCommand) -> anyhow::Result<ExitCode> {
    let operator = operate::operator(global)?;
    let events = match cmd {
        ReleaseCommand::Publish { app, platform, version, url, sha256, size, notes, min_supported, rollout } => {
            let existing = existing(global, &app, &platform).await?;
            let publish = Publish { app_id: app, platform, version, url, sha256, size, notes, min_supported, rollout_percent: rollout };
            rules::decide_publish(&existing, publish).map_err(operate::refused)?
        }
        ReleaseCommand::Rollout { app, platform, version, percent } => {
            let existing = existing(global, &app, &platform).await?;
            rules::decide_rollout(&existing, &app, &platform, &version, percent).map_err(operate::refused)?
        }
        ReleaseCommand::Withdraw { app, platform, version } => {
            let existing = existing(global, &app, &platform).await?;
            rules::decide_withdraw(&existing, &app, &platform, &version).map_err(operate::refused)?
        }
    };
    finish(global, &operator, events).await
}

fn instant(flag: &str, v: Option<String>) -> anyhow::Result<Option<OffsetDateTime>> {
    v.map(|t| OffsetDateTime::parse(&t, &Rfc3339).map_err(|e| anyhow::anyhow!("--{flag} {t:?} is not an RFC 3339 time ({e})"))).transpose()
}

pub async fn announce(global: &Global, args: AnnounceArgs) -> anyhow::Result<ExitCode> {
    let operator = operate::operator(global)?;
    let announce = Announce {
        title: args.title,
        body: args.body,
        platforms: args.platforms,
        starts_at: instant("starts-at", args.starts_at)?,
        ends_at: instant("ends-at", args.ends_at)?,
        inbox: args.inbox,
    };
    let event = rules::decide_announce(announce, &Ctx::live(uuid::Uuid::nil())).map_err(operate::refused)?;
    finish(global, &operator, vec![event]).await
}
