//! `feedback list|status`: the operator's side of users' feedback
//! (docs/services.md, "Feedback"). A status change is decided by
//! `beaver_writemodel::domain::feedback::decide_status` against the read
//! model and appended with the operator as actor; the submitter's devices
//! get a `feedback.updated` frame from ws-push.

use crate::{operate, Global};
use anyhow::Context;
use beaver_events::feedback::Status;
use beaver_readmodel::feedback::{self as read, Feedback};
use beaver_writemodel::domain::feedback::{decide_status, FeedbackState};
use clap::Subcommand;
use serde::Serialize;
use std::process::ExitCode;
use uuid::Uuid;

#[derive(Debug, Subcommand)]
pub enum FeedbackCommand {
    /// All users' feedback, newest first.
    List {
        /// Only feedback with this status: open, in_progress, resolved, rejected.
        #[arg(long)]
        status: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Move a piece of feedback to a status, optionally replying to its submitter.
    ///
    /// The same status with no new reply changes nothing. The submitter sees
    /// the status and the reply in GET /api/feedback/mine, and their connected
    /// devices get a feedback.updated frame.
    ///
    ///   beaver-admin feedback status 0193… resolved --reply "Fixed in 2.1"
    #[command(verbatim_doc_comment)]
    Status {
        /// The feedback id.
        id: Uuid,
        /// open, in_progress, resolved or rejected.
        status: String,
        /// A reply to the submitter (1–2,000 characters).
        #[arg(long)]
        reply: Option<String>,
    },
}

/// One listed entry: the submitter's view plus who submitted it.
#[derive(Debug, Serialize)]
struct Listed {
    user_id: Uuid,
    #[serde(flatten)]
    feedback: Feedback,
}

/// What `feedback status` did.
#[derive(Debug, Serialize)]
struct Changed {
    feedback_id: Uuid,
    status: &'static str,
    reply: Option<String>,
    appended: bool,
}

fn status(s: &str) -> anyhow::Result<Status> {
    Status::parse(s).with_context(|| format!("unknown status {s:?}: use open, in_progress, resolved or rejected"))
}

pub async fn run(global: &Global, cmd: FeedbackCommand) -> anyhow::Result<ExitCode> {
    let pool = operate::database(global).await?;
    match cmd {
        FeedbackCommand::List { status: wanted, limit } => {
            let wanted = wanted.map(|s| status(&s)).transpose()?;
            let all = read::all(&pool, wanted.map(Status::as_str), limit.clamp(1, 10_000)).await?;
            if global.json {
                let listed: Vec<Listed> = all.into_iter().map(|f| Listed { user_id: f.user_id, feedback: f }).collect();
                println!("{}", serde_json::to_string(&listed)?);
            } else {
                println!("{:<36}  {:<11}  {:<8}  {:<20}  TEXT", "FEEDBACK", "STATUS", "CATEGORY", "CREATED");
                for f in all {
                    let text: String = f.text.chars().take(60).map(|c| if c.is_control() { ' ' } else { c }).collect();
                    println!("{:<36}  {:<11}  {:<8}  {:<20}  {text}", f.feedback_id, f.status, f.category, beaver_readmodel::rfc3339(f.created_at));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FeedbackCommand::Status { id, status: new, reply } => {
            let new = status(&new)?;
            let operator = operate::operator(global)?;
            let stored = read::by_id(&pool, id).await?.with_context(|| format!("no feedback {id}"))?;
            let state = FeedbackState {
                feedback_id: id,
                user_id: stored.user_id,
                status: Status::parse(&stored.status).context("a stored status this build does not know")?,
                reply: stored.reply,
            };
            let events = decide_status(&state, new, reply.as_deref()).map_err(operate::refused)?;
            let appended = operate::append(global, &operator, events).await? > 0;
            let out = Changed { feedback_id: id, status: new.as_str(), reply: reply.map(|r| r.trim().to_owned()), appended };
            if global.json {
                println!("{}", serde_json::to_string(&out)?);
            } else if appended {
                println!("{id}: {} (appended by {operator})", new.as_str());
            } else {
                println!("{id}: unchanged ({})", new.as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
