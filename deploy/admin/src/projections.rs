//! `projections status|rebuild`.
//!
//! A rebuild never touches the live read model until its last step:
//! 1. **Shadow.** A database `<live>__rebuild_<projection>` gets empty copies
//!    (`CREATE TABLE … LIKE`) of the projection's tables and of
//!    `projector_offsets`. The projection's own code
//!    (`beaver_projectors::runner::run_projection`) runs in this process
//!    against it, in consumer group `beaver-rebuild-<projection>`, from
//!    offset 0 and without publishing readiness progress. The projection's
//!    SQL names tables without a database, so pointing its pool at the
//!    shadow database is all it takes.
//! 2. **Catch up** until every shadow offset has reached the live one.
//! 3. **Swap.** One transaction locks the projection's live and shadow
//!    `projector_offsets` rows (`FOR UPDATE`): the live projector and the
//!    shadow runner both wait at the start of their next batch, before
//!    touching any table. With the shadow at or past the live position, the
//!    live rows get the shadow's offsets, one `RENAME TABLE live.t TO
//!    live.t__old, shadow.t TO live.t, …` swaps every table at once, and
//!    the transaction commits. The live projector carries on from the shadow's
//!    offsets on the new tables; readers saw the old tables, then the new.
//!
//! Interrupted (Ctrl-C, error) before the swap, the shadow database is
//! dropped and the live model was never written. If the commit fails after
//! the rename, the rename is undone.
//!
//! **Shared state.** Some projections also keep rows of the shared
//! `sync_versions` table (list versions for incremental sync) and Redis
//! state (friend sets, group members, max seqs, read cursors, unread
//! counts), which a replay from 0 in place would move backwards under live
//! readers. For those ([`beaver_projectors::ReadModel`]):
//! - the shadow runner writes its `sync_versions` rows into the shadow
//!   database and its Redis keys into a shadow Redis database
//!   (`--shadow-redis-db`, 15 by default; its keys of the projection's
//!   patterns are deleted first);
//! - at the swap, while both projectors are held: a replay numbers list
//!   versions in its own order of partitions, so every version of the
//!   shadow (rows and counters) is shifted by the highest live counter of
//!   the projection's lists, `M`: no version goes backwards, and a client
//!   holding any old `since_version` gets every row once more (a full
//!   resync, never a missed change); the live `sync_versions` rows of those
//!   lists are replaced in the held transaction; the Redis keys of the
//!   projection's patterns are copied over (DUMP/RESTORE) and the live keys
//!   the shadow does not have are deleted. For `messages`, the shadow's
//!   sent-key filter bits are also ORed into the live filter (the shadow
//!   may be ahead of the live projector; docs/chat.md, "Idempotent sends").
//! - the comparison leaves the version columns out (they differ by design).

use crate::{kafka, Global};
use anyhow::Context;
use beaver_projectors::{
    projection::{ApplyContext, Projection},
    runner::{run_projection, Fetching, RunnerConfig},
};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sqlx::{MySqlPool, Row};
use std::{
    collections::BTreeMap,
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// The projections `rebuild` can swap without downtime (see the module docs): all of them.
pub const REBUILDABLE: &[&str] =
    &["users", "sessions", "relations", "groups", "messages", "feedback", "system", "files", "emoji", "notifications", "moments", "calls"];

/// Consumer group prefix of rebuild runners.
pub const REBUILD_GROUP_PREFIX: &str = "beaver-rebuild-";

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Every projection: consumer group, stored position, end, lag, rows per
    /// table, and leftovers of rebuilds (shadow database, `__old` tables).
    Status,
    /// Rebuild one projection from offset 0 into shadow tables while the live
    /// one keeps serving, then swap them in atomically (no downtime).
    ///
    /// Shows progress with an ETA. Ctrl-C or any error before the swap drops
    /// the shadow tables and leaves the live model untouched. After the swap
    /// the previous tables stay as `<table>__old` until the next rebuild.
    /// Lists and Redis state come along: versions are shifted past the live
    /// ones (clients resync those lists once), Redis keys are rebuilt in a
    /// shadow Redis database and copied over at the swap.
    #[command(verbatim_doc_comment)]
    Rebuild {
        /// Projection name (see `projections status`).
        name: String,
        /// Build and compare (row count and checksum per table), but keep the live tables.
        #[arg(long)]
        no_swap: bool,
        /// Keep the shadow database afterwards (for inspection).
        #[arg(long)]
        keep_shadow: bool,
        /// Give up when the shadow has not caught up after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout_secs: u64,
        /// The Redis database (on the live server) where the shadow's Redis state is built.
        #[arg(long, default_value_t = 15)]
        shadow_redis_db: u32,
    },
}

pub async fn run(global: &Global, cmd: ProjectionsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ProjectionsCommand::Status => status(global).await,
        ProjectionsCommand::Rebuild { name, no_swap, keep_shadow, timeout_secs, shadow_redis_db } => {
            rebuild(global, &name, Options { no_swap, keep_shadow, timeout: Duration::from_secs(timeout_secs), shadow_redis_db }).await
        }
    }
}

fn projection(name: &str) -> anyhow::Result<Arc<dyn Projection>> {
    beaver_projectors::projections::all()
        .into_iter()
        .find(|p| p.name() == name)
        .with_context(|| format!("unknown projection {name:?}"))
}

/// How a rebuild runs (the command's flags).
struct Options {
    no_swap: bool,
    keep_shadow: bool,
    timeout: Duration,
    shadow_redis_db: u32,
}

/// `redis://h:port[/db]` with its database replaced.
pub fn with_redis_db(url: &str, db: u32) -> String {
    let base = url.trim_end_matches('/');
    let host_end = base.find("//").map(|i| i + 2).unwrap_or(0);
    let base = match base[host_end..].rfind('/') {
        Some(i) => &base[..host_end + i],
        None => base,
    };
    format!("{base}/{db}")
}

/// Every key of `patterns` on one Redis database.
async fn scan_keys(redis: &mut redis::aio::ConnectionManager, patterns: &[String]) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    for pattern in patterns {
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000).query_async(redis).await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Makes the live keys of `patterns` those of the shadow: copies every
/// shadow key (DUMP/RESTORE … REPLACE) and deletes the live ones the shadow
/// does not have. Returns `(copied, deleted)`.
async fn copy_redis(
    shadow: &mut redis::aio::ConnectionManager,
    live: &mut redis::aio::ConnectionManager,
    patterns: &[String],
) -> anyhow::Result<(usize, usize)> {
    let theirs = scan_keys(shadow, patterns).await?;
    let ours = scan_keys(live, patterns).await?;
    for chunk in theirs.chunks(500) {
        let mut dump = redis::pipe();
        for key in chunk {
            dump.cmd("DUMP").arg(key);
        }
        let payloads: Vec<Option<Vec<u8>>> = dump.query_async(shadow).await?;
        let mut restore = redis::pipe();
        for (key, payload) in chunk.iter().zip(payloads) {
            match payload {
                Some(p) => restore.cmd("RESTORE").arg(key).arg(0).arg(p).arg("REPLACE").ignore(),
                None => restore.cmd("DEL").arg(key).ignore(),
            };
        }
        let _: () = restore.query_async(live).await?;
    }
    let keep: std::collections::HashSet<&String> = theirs.iter().collect();
    let stale: Vec<&String> = ours.iter().filter(|k| !keep.contains(k)).collect();
    for chunk in stale.chunks(500) {
        let _: () = redis::cmd("DEL").arg(chunk).query_async(live).await?;
    }
    Ok((theirs.len(), stale.len()))
}

/// `mysql://u:p@h:port/db?x` with its database replaced.
pub fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = url.split_once('?').map(|(b, q)| (b, Some(q))).unwrap_or((url, None));
    let slash = base.rfind('/').filter(|i| *i > base.find("//").map(|s| s + 1).unwrap_or(0)).context("database URL without a database")?;
    let mut out = format!("{}/{database}", &base[..slash]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

fn shadow_database(live: &str, projection: &str) -> String {
    format!("{live}__rebuild_{projection}")
}

async fn current_database(pool: &MySqlPool) -> anyhow::Result<String> {
    let (db,): (String,) = sqlx::query_as("SELECT DATABASE()").fetch_one(pool).await?;
    Ok(db)
}

async fn database_exists(pool: &MySqlPool, db: &str) -> anyhow::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?").bind(db).fetch_one(pool).await?;
    Ok(n > 0)
}

/// A projection's offsets in `db`.
async fn offsets(pool: &MySqlPool, db: &str, projector: &str) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let rows = sqlx::query(&format!("SELECT topic, partition_id, next_offset FROM `{db}`.projector_offsets WHERE projector = ?"))
        .bind(projector)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| Ok(((r.try_get("topic")?, r.try_get("partition_id")?), r.try_get("next_offset")?))).collect()
}

/// Row count and an order-independent checksum of every column of every
/// row but those in `except` (version columns, which a rebuild renumbers).
async fn checksum(pool: &MySqlPool, db: &str, table: &str, except: &[&str]) -> anyhow::Result<(i64, i64)> {
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(db)
    .bind(table)
    .fetch_all(pool)
    .await?;
    anyhow::ensure!(!columns.is_empty(), "no table {db}.{table}");
    let cells: Vec<String> = columns.iter().filter(|c| !except.contains(&c.as_str())).map(|c| format!("COALESCE(CAST(`{c}` AS CHAR), '\\0')")).collect();
    let sql = format!("SELECT COUNT(*), CAST(COALESCE(BIT_XOR(CRC32(CONCAT_WS('|', {}))), 0) AS SIGNED) FROM `{db}`.`{table}`", cells.join(", "));
    let (rows, sum): (i64, i64) = sqlx::query_as(&sql).fetch_one(pool).await?;
    Ok((rows, sum))
}

#[derive(Debug, Serialize)]
struct ProjectionStatus {
    projection: String,
    group: String,
    topics: Vec<String>,
    rebuildable: bool,
    /// Sum over partitions of the stored next offset.
    position: i64,
    /// Sum over partitions of the end offset.
    end: i64,
    lag: i64,
    rows: BTreeMap<String, i64>,
    /// A shadow database is present (a rebuild running, or left by --keep-shadow).
    shadow: bool,
    /// `<table>__old` tables left by the last swap.
    old_tables: Vec<String>,
}

async fn status(global: &Global) -> anyhow::Result<ExitCode> {
    let pool = beaver_platform::connect_mysql(&global.database_url, 2).await?;
    let live = current_database(&pool).await?;
    let consumer = kafka::reader(&global.brokers, "beaver-admin")?;
    let mut out = Vec::new();
    for p in beaver_projectors::projections::all() {
        let name = p.name();
        let model = beaver_projectors::read_model(name).context("a projection without a read model")?;
        let stored = offsets(&pool, &live, name).await?;
        let mut end = 0;
        for topic in p.topics() {
            for partition in kafka::topics(&consumer, Some(topic))?.remove(0).partitions {
                end += kafka::watermarks(&consumer, topic, partition)?.1;
            }
        }
        let position: i64 = stored.iter().filter(|((t, _), _)| p.topics().contains(&t.as_str())).map(|(_, v)| v).sum();
        let mut rows = BTreeMap::new();
        let mut old_tables = Vec::new();
        for table in model.tables {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM `{table}`")).fetch_one(&pool).await?;
            rows.insert(table.to_string(), n);
            let old = format!("{table}__old");
            let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?")
                .bind(&live)
                .bind(&old)
                .fetch_one(&pool)
                .await?;
            if exists > 0 {
                old_tables.push(old);
            }
        }
        out.push(ProjectionStatus {
            projection: name.to_owned(),
            group: format!("{}{name}", global.group_prefix),
            topics: p.topics().iter().map(|t| t.to_string()).collect(),
            rebuildable: REBUILDABLE.contains(&name),
            position,
            end,
            lag: (end - position).max(0),
            rows,
            shadow: database_exists(&pool, &shadow_database(&live, name)).await?,
            old_tables,
        });
    }
    if global.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{:<10} {:<28} {:>10} {:>10} {:>8}  {:<11} ROWS", "PROJECTION", "GROUP", "POSITION", "END", "LAG", "REBUILDABLE");
        for s in out {
            let rows: Vec<String> = s.rows.iter().map(|(t, n)| format!("{t}={n}")).collect();
            let mut notes = String::new();
            if s.shadow {
                notes.push_str(" [shadow database present]");
            }
            if !s.old_tables.is_empty() {
                notes.push_str(&format!(" [{}]", s.old_tables.join(", ")));
            }
            println!(
                "{:<10} {:<28} {:>10} {:>10} {:>8}  {:<11} {}{notes}",
                s.projection,
                s.group,
                s.position,
                s.end,
                s.lag,
                if s.rebuildable { "yes" } else { "no" },
                rows.join(" ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A table's row count and checksum.
type RowsAndChecksum = (i64, i64);

/// What a rebuild did, printed at the end (`--json` prints it as JSON).
#[derive(Debug, Serialize)]
struct RebuildReport {
    projection: String,
    swapped: bool,
    /// Events replayed into the shadow (sum of its offsets at the swap).
    replayed: i64,
    seconds: f64,
    events_per_second: f64,
    /// Per table: live (rows, checksum) and shadow (rows, checksum), compared
    /// while both projectors were held at the same offsets; `None` when the
    /// shadow was ahead of the live model at that moment.
    compared: Option<BTreeMap<String, (RowsAndChecksum, RowsAndChecksum)>>,
    identical: Option<bool>,
    /// Shared state moved at the swap: the shift of the list versions and the Redis keys copied and deleted.
    shifted: Option<Shifted>,
}

/// What a swap did to shared state.
#[derive(Debug, Serialize, Clone, Copy)]
struct Shifted {
    versions_by: i64,
    redis_copied: usize,
    redis_deleted: usize,
}

/// The shadow runner thread and its stop flag.
struct Runner {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Runner {
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn rebuild(global: &Global, name: &str, opts: Options) -> anyhow::Result<ExitCode> {
    let Options { no_swap, keep_shadow, timeout, shadow_redis_db } = opts;
    // Ctrl-C (SIGINT) is caught from the start, so that one arriving while the
    // shadow is being set up still ends in the clean-up below.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let p = projection(name)?;
    anyhow::ensure!(REBUILDABLE.contains(&name), "{name} cannot be rebuilt without downtime (rebuildable: {})", REBUILDABLE.join(", "));
    let model = beaver_projectors::read_model(name).context("a projection without a read model")?;
    let live_pool = beaver_platform::connect_mysql(&global.database_url, 4).await?;
    let live = current_database(&live_pool).await?;
    let shadow = shadow_database(&live, name);
    let started = Instant::now();

    // 1. Fresh shadow tables.
    sqlx::query(&format!("DROP DATABASE IF EXISTS `{shadow}`")).execute(&live_pool).await?;
    sqlx::query(&format!("CREATE DATABASE `{shadow}`")).execute(&live_pool).await.context("Failed to create the shadow database")?;
    for table in model.tables.iter().chain(["projector_offsets", "sync_versions"].iter()) {
        sqlx::query(&format!("CREATE TABLE `{shadow}`.`{table}` LIKE `{live}`.`{table}`")).execute(&live_pool).await?;
    }
    let group = format!("{REBUILD_GROUP_PREFIX}{name}");
    delete_group(&global.brokers, &group).await;

    let shadow_pool = beaver_platform::connect_mysql(&with_database(&global.database_url, &shadow)?, 8).await?;
    let live_redis = beaver_platform::connect_redis(&global.redis_url).await?;
    let patterns = if model.redis { beaver_readmodel::keys::projection_patterns(name) } else { vec![] };
    // The shadow's Redis state goes to its own database, emptied of the projection's keys first.
    let shadow_redis = if patterns.is_empty() {
        None
    } else {
        let url = with_redis_db(&global.redis_url, shadow_redis_db);
        let mut r = beaver_platform::connect_redis(&url).await.with_context(|| format!("Failed to reach the shadow Redis database {url}"))?;
        let stale = scan_keys(&mut r, &patterns).await?;
        for chunk in stale.chunks(500) {
            let _: () = redis::cmd("DEL").arg(chunk).query_async(&mut r).await?;
        }
        Some(r)
    };
    let redis = shadow_redis.clone().unwrap_or_else(|| live_redis.clone());
    let ttl: u64 = std::env::var("BEAVER_ACCESS_TOKEN_TTL_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(900);
    let ctx = ApplyContext { pool: shadow_pool.clone(), redis, access_token_ttl: Duration::from_secs(ttl) };
    let config = RunnerConfig {
        brokers: global.brokers.clone(),
        group_prefix: REBUILD_GROUP_PREFIX.to_owned(),
        batch_size: 2000,
        batch_window: Duration::from_millis(20),
        kafka: Default::default(),
        // A rebuild reads a backlog: every fetch is full anyway.
        fetching: Fetching::Eager { idle_wait: Duration::from_millis(100) },
        publish_progress: false,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (handle, flag, runner_p) = (tokio::runtime::Handle::current(), stop.clone(), p.clone());
    let thread = std::thread::Builder::new().name(format!("rebuild-{name}")).spawn(move || {
        if let Err(e) = run_projection(runner_p, config, ctx, handle, flag) {
            tracing::error!(error = ?e, "rebuild runner failed");
        }
    })?;
    let mut runner = Runner { stop, thread: Some(thread) };

    let outcome = tokio::select! {
        r = build_and_swap(
            Stores { live_pool: &live_pool, shadow_pool: &shadow_pool, live: &live, shadow: &shadow, live_redis, shadow_redis, patterns },
            name,
            model,
            no_swap,
            timeout,
            &mut runner,
        ) => r,
        _ = interrupt.recv() => Err(anyhow::anyhow!("interrupted; the live read model was not touched")),
    };
    runner.stop();
    shadow_pool.close().await;
    if !keep_shadow {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS `{shadow}`")).execute(&live_pool).await;
    }
    delete_group(&global.brokers, &group).await;
    let (swapped, replayed, compared, shifted) = outcome?;
    let seconds = started.elapsed().as_secs_f64();
    let identical = compared.as_ref().map(|c| c.values().all(|(l, s)| l == s));
    let report = RebuildReport {
        projection: name.to_owned(),
        swapped,
        replayed,
        seconds,
        events_per_second: replayed as f64 / seconds.max(0.001),
        compared,
        identical,
        shifted,
    };
    if global.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{name}: replayed {replayed} events in {seconds:.1} s ({:.0}/s); {}; compared with live: {}",
            report.events_per_second,
            if swapped { "swapped in (previous tables kept as <table>__old)" } else { "live tables kept (--no-swap)" },
            match identical {
                Some(true) => "identical",
                Some(false) => "DIFFERENT",
                None => "not compared (the shadow was ahead)",
            }
        );
        if let Some(sh) = &report.shifted {
            println!("  list versions shifted by {}; Redis keys copied {}, deleted {}", sh.versions_by, sh.redis_copied, sh.redis_deleted);
        }
        if let Some(c) = &report.compared {
            for (table, (l, s)) in c {
                println!("  {table}: live {} rows (checksum {}), rebuilt {} rows (checksum {})", l.0, l.1, s.0, s.1);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete_group(brokers: &str, group: &str) {
    if let Ok(admin) = kafka::admin(brokers) {
        let opts = rdkafka::admin::AdminOptions::new().request_timeout(Some(kafka::TIMEOUT));
        let _ = admin.delete_groups(&[group], &opts).await;
    }
}

type Compared = BTreeMap<String, ((i64, i64), (i64, i64))>;

/// Where the live and the shadow read models are.
struct Stores<'a> {
    live_pool: &'a MySqlPool,
    shadow_pool: &'a MySqlPool,
    live: &'a str,
    shadow: &'a str,
    live_redis: redis::aio::ConnectionManager,
    /// `None` when the projection keeps no Redis state of its own.
    shadow_redis: Option<redis::aio::ConnectionManager>,
    patterns: Vec<String>,
}

/// Steps 2 and 3 of the module docs. Returns (swapped, replayed, comparison, shared state moved).
async fn build_and_swap(
    stores: Stores<'_>,
    name: &str,
    model: beaver_projectors::ReadModel,
    no_swap: bool,
    timeout: Duration,
    runner: &mut Runner,
) -> anyhow::Result<(bool, i64, Option<Compared>, Option<Shifted>)> {
    let Stores { live_pool, shadow_pool, live, shadow, mut live_redis, mut shadow_redis, patterns } = stores;
    let tables = model.tables;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} rebuilding {msg} [{bar:40}] {pos}/{len} events ({per_sec}, ETA {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(name.to_owned());
    let deadline = Instant::now() + timeout;
    // Without a terminal the bar is hidden: say how far it got every 5 s instead.
    let mut next_line = Instant::now() + Duration::from_secs(5);
    // 2. Catch up with the live position.
    loop {
        anyhow::ensure!(runner.thread.as_ref().is_some_and(|t| !t.is_finished()), "the rebuild runner stopped");
        let target = offsets(live_pool, live, name).await?;
        let done = offsets(shadow_pool, shadow, name).await?;
        let total: i64 = target.values().sum();
        let reached: i64 = target.iter().map(|(k, l)| done.get(k).copied().unwrap_or(0).min(*l)).sum();
        bar.set_length(total.max(0) as u64);
        bar.set_position(reached.max(0) as u64);
        if reached >= total {
            break;
        }
        if bar.is_hidden() && Instant::now() >= next_line {
            eprintln!("rebuilding {name}: {reached}/{total} events, ETA {}s", bar.eta().as_secs());
            next_line = Instant::now() + Duration::from_secs(5);
        }
        anyhow::ensure!(Instant::now() < deadline, "the shadow did not catch up in time; the live read model was not touched");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bar.finish_and_clear();

    // 3. Hold both projectors, compare, swap.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut lock = live_pool.acquire().await?;
        sqlx::query("SET SESSION innodb_lock_wait_timeout = 10").execute(&mut *lock).await?;
        // Read committed: replacing a projection's sync_versions rows below
        // must lock those rows only, not every row its scan passes.
        sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").execute(&mut *lock).await?;
        sqlx::query("BEGIN").execute(&mut *lock).await?;
        let held = async {
            let l = lock_offsets(&mut lock, live, name).await?;
            let s = lock_offsets(&mut lock, shadow, name).await?;
            anyhow::Ok((l, s))
        }
        .await;
        let (l, s) = match held {
            Ok(v) => v,
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *lock).await;
                return Err(e.context("Failed to hold the projectors"));
            }
        };
        let ready = l.iter().all(|(k, lo)| s.get(k).copied().unwrap_or(0) >= *lo);
        let equal = ready && s.iter().all(|(k, so)| l.get(k).copied().unwrap_or(0) == *so);
        // Prefer a moment when both are at the same offsets: then the rows
        // can be compared. Under constant load a swap accepts the shadow
        // ahead; a --no-swap run exists to compare, so it keeps trying.
        if !ready || (!equal && (no_swap || attempt < 40)) {
            sqlx::query("ROLLBACK").execute(&mut *lock).await?;
            anyhow::ensure!(Instant::now() < deadline, "the shadow did not catch up in time; the live read model was not touched");
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        // Both projectors now wait at their next batch: stop the shadow's for good.
        runner.stop.store(true, Ordering::Relaxed);
        let replayed: i64 = s.values().sum();
        let compared = if equal {
            let mut c = BTreeMap::new();
            for table in tables {
                // Another connection: this transaction must not hold the tables the rename moves.
                let except: Vec<&str> = model.version_columns.iter().filter(|(t, _)| t == table).map(|(_, c)| *c).collect();
                c.insert(table.to_string(), (checksum(live_pool, live, table, &except).await?, checksum(live_pool, shadow, table, &except).await?));
            }
            Some(c)
        } else {
            None
        };
        if no_swap {
            sqlx::query("ROLLBACK").execute(&mut *lock).await?;
            return Ok((false, replayed, compared, None));
        }
        let mut shifted = None;
        let swap = async {
            // Shared state, while both projectors are held (module docs, "Shared state").
            if !model.version_lists.is_empty() || shadow_redis.is_some() {
                let lists = model.version_lists.iter().map(|l| format!("'{l}'")).collect::<Vec<_>>().join(", ");
                let by: i64 = if lists.is_empty() {
                    0
                } else {
                    sqlx::query_scalar(&format!("SELECT CAST(COALESCE(MAX(version), 0) AS SIGNED) FROM `{live}`.sync_versions WHERE list IN ({lists})"))
                        .fetch_one(&mut *lock)
                        .await?
                };
                for (table, column) in model.version_columns {
                    sqlx::query(&format!("UPDATE `{shadow}`.`{table}` SET `{column}` = `{column}` + ? WHERE `{column}` > 0"))
                        .bind(by)
                        .execute(live_pool)
                        .await?;
                }
                if !lists.is_empty() {
                    sqlx::query(&format!("DELETE FROM `{live}`.sync_versions WHERE list IN ({lists})")).execute(&mut *lock).await?;
                    sqlx::query(&format!(
                        "INSERT INTO `{live}`.sync_versions (owner_id, list, version) SELECT owner_id, list, version + ? FROM `{shadow}`.sync_versions WHERE list IN ({lists})"
                    ))
                    .bind(by)
                    .execute(&mut *lock)
                    .await?;
                }
                let (copied, deleted) = match shadow_redis.as_mut() {
                    Some(r) => copy_redis(r, &mut live_redis, &patterns).await?,
                    None => (0, 0),
                };
                // The shadow may have stored rows the live projector had not:
                // their keys join the live sent-key filter before they do.
                if name == beaver_readmodel::progress::MESSAGES_PROJECTOR {
                    if let Some(r) = shadow_redis.as_mut() {
                        beaver_readmodel::sent_filter::merge(r, &mut live_redis).await?;
                    }
                }
                shifted = Some(Shifted { versions_by: by, redis_copied: copied, redis_deleted: deleted });
            }
            for table in tables {
                sqlx::query(&format!("DROP TABLE IF EXISTS `{live}`.`{table}__old`")).execute(live_pool).await?;
            }
            let mut q = sqlx::QueryBuilder::new("INSERT INTO projector_offsets (projector, topic, partition_id, next_offset) ");
            q.push_values(&s, |mut b, ((topic, partition), next)| {
                b.push_bind(name).push_bind(topic).push_bind(*partition).push_bind(*next);
            });
            q.push(" ON DUPLICATE KEY UPDATE next_offset = VALUES(next_offset)");
            q.build().execute(&mut *lock).await?;
            let renames: Vec<String> = tables
                .iter()
                .map(|t| format!("`{live}`.`{t}` TO `{live}`.`{t}__old`, `{shadow}`.`{t}` TO `{live}`.`{t}`"))
                .collect();
            let mut mover = live_pool.acquire().await?;
            sqlx::query("SET SESSION lock_wait_timeout = 10").execute(&mut *mover).await?;
            sqlx::query(&format!("RENAME TABLE {}", renames.join(", "))).execute(&mut *mover).await?;
            anyhow::Ok(mover)
        }
        .await;
        let mut mover = match swap {
            Ok(m) => m,
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *lock).await;
                return Err(e.context("Failed to swap; the live read model was not changed"));
            }
        };
        if let Err(e) = sqlx::query("COMMIT").execute(&mut *lock).await {
            let back: Vec<String> = tables
                .iter()
                .map(|t| format!("`{live}`.`{t}` TO `{shadow}`.`{t}`, `{live}`.`{t}__old` TO `{live}`.`{t}`"))
                .collect();
            sqlx::query(&format!("RENAME TABLE {}", back.join(", "))).execute(&mut *mover).await?;
            return Err(anyhow::Error::from(e).context("Failed to commit the new offsets; the swap was undone"));
        }
        return Ok((true, replayed, compared, shifted));
    }
}

/// Locks (and reads) a projection's offset rows in `db` inside the open transaction.
async fn lock_offsets(conn: &mut sqlx::MySqlConnection, db: &str, projector: &str) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let rows = sqlx::query(&format!(
        "SELECT topic, partition_id, next_offset FROM `{db}`.projector_offsets WHERE projector = ? ORDER BY topic, partition_id FOR UPDATE"
    ))
    .bind(projector)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(((r.try_get("topic")?, r.try_get("partition_id")?), r.try_get("next_offset")?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shadow_url_names_the_shadow_database() {
        assert_eq!(with_database("mysql://b:p@h:3306/beaver", "beaver__rebuild_users").unwrap(), "mysql://b:p@h:3306/beaver__rebuild_users");
        assert_eq!(with_database("mysql://b:p@h/beaver?ssl-mode=disabled", "x").unwrap(), "mysql://b:p@h/x?ssl-mode=disabled");
        assert!(with_database("mysql://b:p@h:3306", "x").is_err());
    }

    #[test]
    fn every_projection_is_rebuildable_and_declares_its_shared_state() {
        for p in beaver_projectors::projections::all() {
            let name = p.name();
            assert!(REBUILDABLE.contains(&name), "{name}");
            let model = beaver_projectors::read_model(name).unwrap();
            for list in model.lists {
                assert!(model.version_lists.contains(list), "{name}: {list} is reset but not shifted");
            }
            assert_eq!(model.version_lists.is_empty(), model.version_columns.is_empty(), "{name}: lists and their columns go together");
            assert_eq!(model.redis, !beaver_readmodel::keys::projection_patterns(name).is_empty(), "{name}: Redis state and its patterns go together");
        }
        assert_eq!(with_redis_db("redis://127.0.0.1:6379", 15), "redis://127.0.0.1:6379/15");
        assert_eq!(with_redis_db("redis://127.0.0.1:6379/0", 15), "redis://127.0.0.1:6379/15");
        assert_eq!(with_redis_db("redis://:pw@h:1/", 3), "redis://:pw@h:1/3");
    }

    #[test]
    fn self_contained_projections_keep_no_lists() {
        for name in ["users", "sessions", "feedback", "system", "files", "moments", "calls"] {
            assert!(beaver_projectors::read_model(name).unwrap().lists.is_empty(), "{name} keeps shared rows");
        }
    }
}
