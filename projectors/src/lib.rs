//! Beaver's projectors: Kafka consumer groups that turn the event log into
//! the MariaDB read models that query-api serves and the Redis state the
//! other tiers consult. Each projection is idempotent — its offsets are stored
//! with its rows in one transaction — so replaying a topic from offset 0 into
//! empty tables rebuilds the same state, and starting more processes with the
//! same `group_prefix` spreads the partitions over them.
//!
//! # Layout
//! - [`projection`]: the `Projection` trait and what `apply` may use.
//! - [`projections`]: the projections themselves (`users`, `sessions`, `relations`, `groups`, `messages`).
//! - [`runner`]: the consumer loop: seek to stored offsets, batch, transact.
//! - [`sent_filter`]: the keeper that rebuilds the sent-key filter when Redis lost it.
//! - [`workers`]: stream processors that append derived events (the notifier, offline push jobs, push senders).
//! - [`run`]: starts the selected projections and workers plus `/healthz` and `/metrics`.

pub mod projection;
pub mod projections;
pub mod runner;
pub mod sent_filter;
pub mod workers;

use anyhow::Context;
use beaver_platform::serve;
use projection::{ApplyContext, Projection};
use serde::{Deserialize, Serialize};
use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

/// Projectors configuration (`BEAVER_*` variables override).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address (health and metrics only), dependencies and the namespace;
    /// the JWT settings are not used here.
    #[serde(flatten)]
    pub common: beaver_platform::config::Common,
    /// Consumer group names are `<group_prefix><projection>`; tests use their own.
    pub group_prefix: String,
    /// Comma-separated projection names to run; empty runs all.
    pub projections: String,
    pub batch_size: usize,
    pub batch_window_ms: u64,
    /// Must match the commands tier: bounds how long revocations are kept.
    pub access_token_ttl_secs: u64,
    /// Announce each commit's offsets on the Redis channel commands wait on
    /// for read-your-writes. Off for any projector that does not write the
    /// live read model (a replay into a scratch database, a benchmark): Redis
    /// pub/sub ignores the database number, so its offsets would reach the
    /// live waiters and make them answer before the live projector applied
    /// their event.
    pub publish_progress: bool,
    /// Comma-separated workers to run (`notifier`, `push`, `push-sender`),
    /// `all`, or empty for none. A process replaying into a scratch database
    /// must run none: a worker appends to the live topics.
    pub workers: String,
    /// Comma-separated projections and workers whose fetches the broker
    /// paces (`runner::Fetching::Paced`): those no request's answer waits
    /// on (history reads and commands on a message wait for the messages
    /// projection, at most `pace_ms` longer than unpaced). Empty: none.
    pub paced: String,
    /// How long the broker holds a paced consumer's fetch (unless
    /// `pace_bytes` are there first); 0 turns pacing off.
    pub pace_ms: u64,
    pub pace_bytes: u32,
    /// How long the broker holds an unpaced consumer's fetch that finds
    /// nothing (it answers at once when a record arrives): each idle
    /// consumer costs Kafka one request per this.
    pub idle_fetch_wait_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            common: beaver_platform::config::Common::serving("127.0.0.1:21084"),
            group_prefix: "beaver-projector-".into(),
            projections: String::new(),
            batch_size: 2000,
            batch_window_ms: 5,
            access_token_ttl_secs: 900,
            publish_progress: true,
            workers: "all".into(),
            paced: "messages,push".into(),
            pace_ms: 20,
            pace_bytes: 1 << 20,
            idle_fetch_wait_ms: 100,
        }
    }
}

impl Config {
    fn selected(&self) -> anyhow::Result<Vec<Arc<dyn Projection>>> {
        let all = projections::all();
        if self.projections.trim().is_empty() {
            return Ok(all);
        }
        self.projections
            .split(',')
            .map(str::trim)
            .map(|wanted| {
                all.iter()
                    .find(|p| p.name() == wanted)
                    .cloned()
                    .with_context(|| format!("unknown projection {wanted:?}"))
            })
            .collect()
    }

    /// Refuses a name in `paced` that is no projection or worker (a typo
    /// would otherwise leave that consumer eager without a word).
    fn check_paced(&self) -> anyhow::Result<()> {
        let projections = projections::all();
        for name in self.paced.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !projections.iter().any(|p| p.name() == name) && !workers::ALL.contains(&name) {
                anyhow::bail!("BEAVER_PACED: unknown projection or worker {name:?}");
            }
        }
        Ok(())
    }

    /// How the broker answers the fetches of the projection or worker `name`.
    fn fetching_of(&self, name: &str) -> runner::Fetching {
        if self.pace_ms > 0 && self.paced.split(',').map(str::trim).any(|n| n == name) {
            runner::Fetching::Paced { wait: Duration::from_millis(self.pace_ms), min_bytes: self.pace_bytes }
        } else {
            runner::Fetching::Eager { idle_wait: Duration::from_millis(self.idle_fetch_wait_ms) }
        }
    }

    fn selected_workers(&self) -> anyhow::Result<Vec<Arc<dyn workers::Worker>>> {
        let names: Vec<&str> = match self.workers.trim() {
            "" | "none" => vec![],
            "all" => workers::ALL.to_vec(),
            list => list.split(',').map(str::trim).collect(),
        };
        names.into_iter().map(|n| workers::by_name(n).with_context(|| format!("unknown worker {n:?}"))).collect()
    }
}

/// Applies pending migrations.
pub async fn migrate(database_url: &str) -> anyhow::Result<()> {
    let pool = beaver_platform::connect_mysql(database_url, 2).await?;
    beaver_readmodel::MIGRATOR.run(&pool).await.context("Failed to apply migrations")?;
    Ok(())
}

/// What one projection owns besides its `projector_offsets` rows.
#[derive(Clone, Copy, Debug)]
pub struct ReadModel {
    /// Tables only this projection writes.
    pub tables: &'static [&'static str],
    /// Its `sync_versions.list` values (rows of a table shared with other
    /// projections) that a reset deletes.
    pub lists: &'static [&'static str],
    /// Every `sync_versions.list` it bumps, including counters a reset keeps
    /// (the messages' global `("*", "conversations")`).
    pub version_lists: &'static [&'static str],
    /// `(table, column)` holding values of those lists' counters: a rebuild
    /// shifts them past the live counters so that no version goes backwards.
    pub version_columns: &'static [(&'static str, &'static str)],
    /// Its Redis state (`beaver_readmodel::keys::projection_patterns`).
    pub redis: bool,
}

/// The read model of `projection`, or `None` for an unknown name.
pub fn read_model(projection: &str) -> Option<ReadModel> {
    type Shape = (&'static [&'static str], &'static [&'static str], &'static [&'static str], &'static [(&'static str, &'static str)], bool);
    let (tables, lists, version_lists, version_columns, redis): Shape = match projection {
        "users" => (&["users", "user_settings"], &[], &[], &[], false),
        // Its Redis keys (session revocations) are replay-safe: written in place.
        "sessions" => (&["sessions"], &[], &[], &[], false),
        "feedback" => (&["feedback"], &[], &[], &[], false),
        "system" => (&["app_releases", "announcements"], &[], &[], &[], false),
        "files" => (&["files", "file_parts"], &[], &[], &[], false),
        // Also keeps the per-user lists `emoji` and `emoji_packs` in sync_versions.
        "emoji" => (
            &["emoji_favorites", "emoji_packs", "emoji_pack_items", "emoji_pack_collections"],
            &["emoji", "emoji_packs"],
            &["emoji", "emoji_packs"],
            &[("emoji_favorites", "version"), ("emoji_pack_collections", "version")],
            false,
        ),
        // Also keeps each user's inbox position (list `notifications`) in sync_versions, and the unread counts in Redis.
        "notifications" => (
            &["notifications", "notification_applied", "push_tokens"],
            &["notifications"],
            &["notifications"],
            &[("notifications", "position")],
            true,
        ),
        "calls" => (&["calls", "call_participants"], &[], &[], &[], false),
        "moments" => (&["moments", "moment_timeline", "moment_likes", "moment_comments", "moment_pairs"], &[], &[], &[], false),
        "relations" => (
            &["friend_requests", "friendships", "blocks"],
            &["requests", "friends", "blocks"],
            &["requests", "friends", "blocks"],
            &[("friend_requests", "from_version"), ("friend_requests", "to_version"), ("friendships", "version"), ("blocks", "version")],
            true,
        ),
        "groups" => (
            &["chat_groups", "group_members", "group_join_requests"],
            &["groups", "members"],
            &["groups", "members"],
            &[("group_members", "version"), ("group_members", "user_version")],
            true,
        ),
        "messages" => (
            &["conversations", "messages", "message_edits", "message_reactions", "message_hidden", "user_conversations"],
            // Also bumps the global `("*", "conversations")` counter, which a
            // reset keeps so that change versions never go backwards.
            &[],
            &["conversations"],
            &[("conversations", "changed_version"), ("user_conversations", "changed_version")],
            true,
        ),
        _ => return None,
    };
    Some(ReadModel { tables, lists, version_lists, version_columns, redis })
}

/// Empties a projection's read model and its stored offsets, so that its
/// next start replays the topic from offset 0. Stop the projection's
/// processes first: a running instance keeps its current position.
pub async fn reset(database_url: &str, projection: &str) -> anyhow::Result<()> {
    let ReadModel { tables, lists, .. } = read_model(projection).with_context(|| format!("unknown projection {projection:?}"))?;
    let pool = beaver_platform::connect_mysql(database_url, 2).await?;
    let mut tx = pool.begin().await?;
    for table in tables {
        sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
    }
    for list in lists {
        sqlx::query("DELETE FROM sync_versions WHERE list = ?").bind(list).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM projector_offsets WHERE projector = ?").bind(projection).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Runs the configured projections until `shutdown` resolves.
pub async fn run(config: Config, listener: tokio::net::TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    beaver_platform::telemetry::prometheus();
    // `topic_prefix` (BEAVER_TOPIC_PREFIX) is the namespace: `bench.` reads
    // `bench.beaver.sequenced.v1`, so benchmarks and tests replay a log of
    // their own without touching the live topics.
    config.common.enter_namespace()?;
    let pool = beaver_platform::connect_mysql(config.common.database_url(), 16).await?;
    let redis = beaver_platform::connect_redis(config.common.redis_url()).await?;
    let ctx = ApplyContext {
        pool: pool.clone(),
        redis: redis.clone(),
        access_token_ttl: Duration::from_secs(config.access_token_ttl_secs),
    };
    let runner_config = runner::RunnerConfig {
        brokers: config.common.kafka_brokers.clone(),
        group_prefix: config.group_prefix.clone(),
        batch_size: config.batch_size.max(1),
        batch_window: Duration::from_millis(config.batch_window_ms),
        kafka: Default::default(),
        fetching: runner::Fetching::Eager { idle_wait: Duration::from_millis(config.idle_fetch_wait_ms) },
        publish_progress: config.publish_progress,
    };
    let kafka = runner_config.kafka.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let mut running = Vec::new();
    let selected = config.selected()?;
    config.check_paced()?;
    let mut tasks = Vec::new();
    // The live messages projection keeps the sent-key filter trusted.
    if config.publish_progress && selected.iter().any(|p| p.name() == beaver_readmodel::progress::MESSAGES_PROJECTOR) {
        tasks.push(tokio::spawn(sent_filter::keep(pool.clone(), redis.clone(), stop.clone())));
    }
    for projection in selected {
        let alive = Arc::new(AtomicBool::new(true));
        running.push((projection.name(), alive.clone()));
        let cfg = runner::RunnerConfig { fetching: config.fetching_of(projection.name()), ..runner_config.clone() };
        let (ctx, stop, handle) = (ctx.clone(), stop.clone(), tokio::runtime::Handle::current());
        let thread = std::thread::Builder::new()
            .name(format!("projector-{}", projection.name()))
            .spawn(move || {
                let name = projection.name();
                if let Err(e) = runner::run_projection(projection, cfg, ctx, handle, stop) {
                    tracing::error!(projector = name, error = ?e, "projection failed");
                }
                alive.store(false, Ordering::Relaxed);
            })?;
        threads.push(thread);
    }
    let selected_workers = config.selected_workers()?;
    if !selected_workers.is_empty() {
        let wctx = workers::WorkerContext {
            pool: pool.clone(),
            redis: redis.clone(),
            producer: beaver_platform::kafka::EventProducer::with_client_id(&config.common.kafka_brokers, 5, "beaver-projectors-workers")?,
        };
        for worker in selected_workers {
            let alive = Arc::new(AtomicBool::new(true));
            running.push((worker.name(), alive.clone()));
            tasks.push(tokio::spawn(workers::run(
                worker.clone(),
                wctx.clone(),
                config.common.kafka_brokers.clone(),
                config.group_prefix.clone(),
                config.fetching_of(worker.name()),
                stop.clone(),
                alive,
            )));
        }
    }
    let mut health = serve::HealthChecks::new().mysql(pool).redis(redis).check("kafka", move || std::future::ready(kafka.check()));
    for (name, alive) in running {
        health = health.check(name, move || {
            let state = match alive.load(Ordering::Relaxed) {
                true => Ok(()),
                false => Err(anyhow::anyhow!("consumer stopped")),
            };
            std::future::ready(state)
        });
    }
    let app = health.route();
    let result = serve::serve(listener, app, shutdown).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| drop(t.join()))).await?;
    result
}

#[cfg(test)]
mod fetching_tests {
    use super::*;
    use runner::Fetching;

    #[test]
    fn the_messages_projection_and_the_push_worker_are_paced_by_default() {
        let config = Config::default();
        let paced = Fetching::Paced { wait: Duration::from_millis(20), min_bytes: 1 << 20 };
        assert_eq!(config.fetching_of("messages"), paced);
        assert_eq!(config.fetching_of("push"), paced);
        // Commands wait on these for read-your-writes: answered at the first record.
        for name in ["users", "sessions", "relations", "groups", "notifier", "push-sender"] {
            assert_eq!(config.fetching_of(name), Fetching::Eager { idle_wait: Duration::from_millis(100) }, "{name}");
        }
    }

    #[test]
    fn a_zero_pace_turns_pacing_off_and_the_list_is_trimmed() {
        let off = Config { pace_ms: 0, ..Config::default() };
        assert_eq!(off.fetching_of("messages"), Fetching::Eager { idle_wait: Duration::from_millis(100) });
        let listed = Config { paced: " users , moments".into(), pace_ms: 50, pace_bytes: 4096, ..Config::default() };
        assert_eq!(listed.fetching_of("moments"), Fetching::Paced { wait: Duration::from_millis(50), min_bytes: 4096 });
        assert_eq!(listed.fetching_of("users"), Fetching::Paced { wait: Duration::from_millis(50), min_bytes: 4096 });
        assert!(matches!(listed.fetching_of("messages"), Fetching::Eager { .. }));
    }

    #[test]
    fn an_unknown_paced_name_is_refused_and_the_defaults_are_known() {
        assert!(Config::default().check_paced().is_ok());
        assert!(Config { paced: String::new(), ..Config::default() }.check_paced().is_ok());
        let typo = Config { paced: "messages,pusj".into(), ..Config::default() };
        let error = typo.check_paced().expect_err("a typo is refused").to_string();
        assert!(error.contains("\"pusj\""), "{error}");
    }

    #[test]
    fn the_settings_are_kafkas_wait_and_minimum() {
        let eager = Fetching::Eager { idle_wait: Duration::from_millis(100) }.settings();
        assert_eq!(eager, [("fetch.wait.max.ms", "100".to_owned()), ("fetch.min.bytes", "1".to_owned())]);
        let paced = Fetching::Paced { wait: Duration::from_millis(20), min_bytes: 0 }.settings();
        assert_eq!(paced, [("fetch.wait.max.ms", "20".to_owned()), ("fetch.min.bytes", "1".to_owned())]);
    }
}
