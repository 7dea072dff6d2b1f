//! Push senders: `beaver.push.v1` → every configured [`PushSender`]. The
//! build has one, [`LogSender`], which stands in for APNs and FCM (plug-ins
//! behind the same trait, not built). A job may arrive twice (at least
//! once): a real sender dedupes by `job_id`.

use super::{Source, Worker, WorkerContext};
use beaver_events::{notification::PushJobQueued, topics, PushEvent, RawEnvelope};

pub const NAME: &str = "push-sender";

/// Delivers push jobs to one push service.
#[async_trait::async_trait]
pub trait PushSender: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Delivers `job` to the devices of the platforms this sender serves;
    /// an error retries the job.
    async fn send(&self, job: &PushJobQueued) -> anyhow::Result<()>;
}

/// Logs every job (`push job`, target `beaver_push`) and counts it.
pub struct LogSender;

#[async_trait::async_trait]
impl PushSender for LogSender {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn send(&self, job: &PushJobQueued) -> anyhow::Result<()> {
        let platforms: Vec<&str> = job.tokens.iter().map(|t| t.platform.as_str()).collect();
        tracing::info!(target: "beaver_push", job_id = %job.job_id, user_id = %job.user_id, reason = %job.reason, ?platforms, badge = job.badge, "push job");
        metrics::counter!("push_jobs_sent_total", "sender" => self.name()).increment(1);
        Ok(())
    }
}

pub struct Sender {
    senders: Vec<Box<dyn PushSender>>,
}

impl Sender {
    /// The build's configuration: the logging sender only.
    pub fn logging() -> Self {
        Sender { senders: vec![Box::new(LogSender)] }
    }
}

#[async_trait::async_trait]
impl Worker for Sender {
    fn name(&self) -> &'static str {
        NAME
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::PUSH]
    }

    async fn handle(&self, _ctx: &WorkerContext, _source: &Source, env: RawEnvelope) -> anyhow::Result<()> {
        let PushEvent::PushJobQueued(job) = env.decode::<PushEvent>()?.payload;
        for sender in &self.senders {
            sender.send(&job).await?;
        }
        Ok(())
    }
}
