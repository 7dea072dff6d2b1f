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
//! Only projections whose whole state is their own tables (plus replay-safe
//! Redis writes) can be rebuilt so: `users`, `sessions`, `feedback`, `system` and `files`. `relations`,
//! `groups` and `messages` also keep rows of the shared `sync_versions` table
//! and Redis sets/cursors that a replay from 0 would move backwards under the
//! live readers; they need a Redis key prefix and shadow `sync_versions` rows
//! in the projector first (or `beaver-projectors reset` with downtime).

use crate::{kafka, Global};
use anyhow::Context;
use beaver_projectors::{
    projection::{ApplyContext, Projection},
    runner::{run_projection, RunnerConfig},
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

/// The projections `rebuild` can swap without downtime (see the module docs).
pub const REBUILDABLE: &[&str] = &["users", "sessions", "feedback", "system", "files"];

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
    /// Rebuildable now: users, sessions, feedback, system, files.
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
    },
}

pub async fn run(global: &Global, cmd: ProjectionsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ProjectionsCommand::Status => status(global).await,
        ProjectionsCommand::Rebuild { name, no_swap, keep_shadow, timeout_secs } => {
            rebuild(global, &name, no_swap, keep_shadow, Duration::from_secs(timeout_secs)).await
        }
    }
}

fn projection(name: &str) -> anyhow::Result<Arc<dyn Projection>> {
    beaver_projectors::projections::all()
        .into_iter()
        .find(|p| p.name() == name)
        .with_context(|| format!("unknown projection {name:?}"))
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

/// Row count and an order-independent checksum of every column of every row.
async fn checksum(pool: &MySqlPool, db: &str, table: &str) -> anyhow::Result<(i64, i64)> {
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(db)
    .bind(table)
    .fetch_all(pool)
    .await?;
    anyhow::ensure!(!columns.is_empty(), "no table {db}.{table}");
    let cells: Vec<String> = columns.iter().map(|c| format!("COALESCE(CAST(`{c}` AS CHAR), '\\0')")).collect();
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

async fn rebuild(global: &Global, name: &str, no_swap: bool, keep_shadow: bool, timeout: Duration) -> anyhow::Result<ExitCode> {
    let p = projection(name)?;
    anyhow::ensure!(
        REBUILDABLE.contains(&name),
        "{name} cannot be rebuilt without downtime yet: it also writes shared sync_versions rows and Redis state that a replay \
         would move backwards under live readers (rebuildable: {}); use `beaver-projectors reset {name}` with its projectors stopped",
        REBUILDABLE.join(", ")
    );
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
    let redis = beaver_platform::connect_redis(&global.redis_url).await?;
    let ttl: u64 = std::env::var("BEAVER_ACCESS_TOKEN_TTL_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(900);
    let ctx = ApplyContext { pool: shadow_pool.clone(), redis, access_token_ttl: Duration::from_secs(ttl) };
    let config = RunnerConfig {
        brokers: global.brokers.clone(),
        group_prefix: REBUILD_GROUP_PREFIX.to_owned(),
        batch_size: 2000,
        batch_window: Duration::from_millis(20),
        kafka: Default::default(),
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
        r = build_and_swap(&live_pool, &shadow_pool, &live, &shadow, name, model.tables, no_swap, timeout, &mut runner) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; the live read model was not touched")),
    };
    runner.stop();
    shadow_pool.close().await;
    if !keep_shadow {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS `{shadow}`")).execute(&live_pool).await;
    }
    delete_group(&global.brokers, &group).await;
    let (swapped, replayed, compared) = outcome?;
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

/// Steps 2 and 3 of the module docs. Returns (swapped, replayed, comparison).
#[allow(clippy::too_many_arguments)]
async fn build_and_swap(
    live_pool: &MySqlPool,
    shadow_pool: &MySqlPool,
    live: &str,
    shadow: &str,
    name: &str,
    tables: &[&str],
    no_swap: bool,
    timeout: Duration,
    runner: &mut Runner,
) -> anyhow::Result<(bool, i64, Option<Compared>)> {
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
                c.insert(table.to_string(), (checksum(live_pool, live, table).await?, checksum(live_pool, shadow, table).await?));
            }
            Some(c)
        } else {
            None
        };
        if no_swap {
            sqlx::query("ROLLBACK").execute(&mut *lock).await?;
            return Ok((false, replayed, compared));
        }
        let swap = async {
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
        return Ok((true, replayed, compared));
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
    fn only_self_contained_projections_are_rebuildable() {
        for name in REBUILDABLE {
            assert!(beaver_projectors::read_model(name).unwrap().lists.is_empty(), "{name} keeps shared rows");
        }
    }
}
