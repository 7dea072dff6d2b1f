//! The notifier: relations, groups and moments events → one `NotificationCreated`
//! per recipient on `beaver.notifications.v1` (docs/services.md, "How items
//! are made"). The rules are `beaver_writemodel::domain::notification::derive`;
//! this loads their facts (a group's admins, the recipient's blocks and
//! settings) as they are when the event is handled, and the decision is
//! then fixed in the log: a replay of the notifications topic rebuilds the
//! same inbox whatever the settings are by then.

use super::{Source, Worker, WorkerContext};
use beaver_events::{topics, Actor, Envelope, GroupEvent, MomentEvent, NotificationEvent, RawEnvelope, RelationEvent};
use beaver_readmodel::{group, keys, moment, settings};
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
        &[topics::RELATIONS, topics::GROUPS, topics::MOMENTS]
    }

    async fn handle(&self, ctx: &WorkerContext, source: &Source, env: RawEnvelope) -> anyhow::Result<()> {
        let topic = source.topic.as_str();
        let (source, correlation) = (env.event_id, env.correlation_id.clone());
        let candidates = if topic == topics::RELATIONS {
            derive::from_relation(source, &env.decode::<RelationEvent>()?.payload)
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
}
