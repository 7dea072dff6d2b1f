//! The notifier: relations, groups and moments events → one `NotificationCreated`
//! per recipient on `beaver.notifications.v1` (docs/services.md, "How items
//! are made"). The rules are `beaver_writemodel::domain::notification::derive`;
//! this loads their facts (a group's admins, the recipient's blocks and
//! settings) as they are when the event is handled, and the decision is
//! then fixed in the log: a replay of the notifications topic rebuilds the
//! same inbox whatever the settings are by then.

use super::{Source, Worker, WorkerContext};
use beaver_events::{topics, Actor, CallEvent, Envelope, GroupEvent, MomentEvent, NotificationEvent, RawEnvelope, RelationEvent};
use beaver_readmodel::{call, group, keys, moment, settings, system, user};
use uuid::Uuid;
use beaver_writemodel::domain::notification::derive;
use redis::AsyncCommands;

pub const NAME: &str = "notifier";

pub struct Notifier;

#[async_trait::async_trait]
impl Worker for Notifier {
    fn name(&self) -> &'static str {
        NAME
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::RELATIONS, topics::GROUPS, topics::MOMENTS, topics::CALLS]
    }

    async fn handle(&self, ctx: &WorkerContext, source: &Source, env: RawEnvelope) -> anyhow::Result<()> {
        let topic = source.topic.as_str();
        let (source, correlation) = (env.event_id, env.correlation_id.clone());
        let candidates = if topic == topics::RELATIONS {
            derive::from_relation(source, &env.decode::<RelationEvent>()?.payload)
        } else if topic == topics::CALLS {
            match env.decode::<CallEvent>()?.payload {
                CallEvent::CallMissed(m) => {
                    let caller = call::load(&ctx.pool, m.call_id).await?.and_then(|(c, _)| Uuid::try_parse(&c.caller_id).ok());
                    match caller {
                        Some(caller) => derive::from_missed_call(source, m.call_id, caller, &m.user_ids),
                        None => anyhow::bail!("call {} is not projected yet", m.call_id),
                    }
                }
                _ => vec![],
            }
        } else if topic == topics::MOMENTS {
            let event = env.decode::<MomentEvent>()?.payload;
            let mut kept = Vec::new();
            for item in derive::from_moment(source, &event) {
                if moment::may_see(&ctx.pool, item.user_id, event.moment_id()).await? {
                    kept.push(item);
                }
            }
            kept
        } else {
            let event = env.decode::<GroupEvent>()?.payload;
            let admins = match &event {
                GroupEvent::GroupJoinRequested(e) => group::admins(&ctx.pool, e.group_id).await?,
                _ => vec![],
            };
            derive::from_group(source, &event, &admins)
        };
        for item in candidates {
            let blocked: bool = ctx.redis.clone().sismember(keys::blocks(item.user_id), item.actor_id.to_string()).await?;
            let (prefs, _) = settings::load(&ctx.pool, item.user_id).await?;
            if !derive::keeps(&item, blocked, &prefs.notifications.categories) {
                metrics::counter!("notifications_suppressed_total", "kind" => item.kind.clone()).increment(1);
                continue;
            }
            let envelope = Envelope::new(NotificationEvent::NotificationCreated(item), Actor::System, correlation.clone(), Some(source));
            ctx.producer.append(&envelope).await?;
            metrics::counter!("notifications_created_total").increment(1);
        }
        Ok(())
    }

    /// Announcements that have started (and not ended) reach every user's
    /// inbox once: on this clock rather than when published, so that a
    /// scheduled one arrives when it starts, and a restart catches up.
    async fn tick(&self, ctx: &WorkerContext) -> anyhow::Result<()> {
        let now = time::OffsetDateTime::now_utc();
        let now = time::PrimitiveDateTime::new(now.date(), now.time());
        for a in system::current_announcements(&ctx.pool, now, None).await? {
            let Ok(id) = Uuid::try_parse(&a.announcement_id) else { continue };
            if !a.inbox {
                continue;
            }
            // Only what started in the last day: a new notifier does not
            // deliver long-running announcements it never saw start.
            if a.starts_at < now - CATCH_UP {
                continue;
            }
            let marker = keys::announcement_fanned_out(id);
            // Claimed for 10 minutes while it runs; `done` afterwards. A crash
            // mid-way lets the claim expire and a later tick redo it (the
            // item ids are derived, so nobody gets two).
            let claimed: bool = redis::cmd("SET").arg(&marker).arg("started").arg("NX").arg("EX").arg(600).query_async::<Option<String>>(&mut ctx.redis.clone()).await?.is_some();
            if !claimed {
                continue;
            }
            let made = fan_out(ctx, id, &a.title, &a.body).await?;
            let _: () = ctx.redis.clone().set(&marker, "done").await?;
            tracing::info!(announcement = %id, items = made, "announcement delivered to every inbox");
        }
        Ok(())
    }
}

/// How far back the notifier delivers announcements it has not delivered yet.
const CATCH_UP: time::Duration = time::Duration::days(1);

/// Users per page of an announcement's fan-out, and appends in flight.
const FAN_OUT_PAGE: u32 = 1000;

/// One item per user (but those who switched `system` off); the count made.
async fn fan_out(ctx: &WorkerContext, announcement: Uuid, title: &str, body: &str) -> anyhow::Result<usize> {
    let mut after = None;
    let mut made = 0;
    loop {
        let page = user::ids_after(&ctx.pool, after, FAN_OUT_PAGE).await?;
        let Some(last) = page.last().copied() else { return Ok(made) };
        let off = settings::category_off(&ctx.pool, &page, "system").await?;
        let appends = page.iter().filter(|u| !off.contains(u)).map(|u| {
            let item = derive::from_announcement(announcement, title, body, *u);
            let envelope = Envelope::new(NotificationEvent::NotificationCreated(item), Actor::System, format!("announcement:{announcement}"), Some(announcement));
            async move { ctx.producer.append(&envelope).await }
        });
        let mut this_page = 0;
        for done in futures::future::join_all(appends).await {
            done?;
            this_page += 1;
        }
        metrics::counter!("notifications_created_total").increment(this_page as u64);
        made += this_page;
        after = Some(last);
    }
}
