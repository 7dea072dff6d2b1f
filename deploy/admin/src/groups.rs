//! `groups status`: every consumer group with its members and, per
//! partition, the Kafka-committed offset, the offset MariaDB stores for a
//! projection (`projector_offsets`, the one that counts: projectors commit to
//! Kafka only for dashboards), the end offset and the lag.

use crate::{kafka, Global};
use anyhow::Context;
use clap::Subcommand;
use rdkafka::{consumer::Consumer, Offset, TopicPartitionList};
use serde::Serialize;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    process::ExitCode,
};

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Members, per-partition offsets and lag of every consumer group.
    ///
    /// LAG is END minus the position: the MariaDB-stored offset for a
    /// projector group (`<group-prefix><projection>`), else the Kafka-committed
    /// one. On beaver.sequenced.v1 (written in transactions) END counts the
    /// commit marker too, so a caught-up partition may show a lag of 1.
    ///
    /// As a probe: `beaver-admin groups status --max-lag 1000` exits with 2
    /// when any partition lags by more.
    #[command(verbatim_doc_comment)]
    Status {
        /// Only groups whose name contains this text.
        #[arg(long)]
        group: Option<String>,
        /// Exit with status 2 when any partition's lag exceeds this.
        #[arg(long)]
        max_lag: Option<i64>,
    },
}

/// One partition of one group.
#[derive(Debug, Serialize)]
pub struct PartitionStatus {
    pub topic: String,
    pub partition: i32,
    /// Kafka's committed offset for the group (dashboards; absent if none).
    pub committed: Option<i64>,
    /// The projection's own offset in `projector_offsets` (projector groups only).
    pub stored: Option<i64>,
    /// The partition's high watermark.
    pub end: i64,
    /// `end - (stored or committed)`; absent when the group has no position.
    pub lag: Option<i64>,
    /// The member (client id) the partition is assigned to, if any.
    pub member: Option<String>,
}

/// One member of a group.
#[derive(Debug, Serialize)]
pub struct MemberStatus {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// One consumer group.
#[derive(Debug, Serialize)]
pub struct GroupStatus {
    pub group: String,
    pub state: String,
    /// The projection whose offsets MariaDB stores, for projector groups.
    pub projection: Option<String>,
    pub members: Vec<MemberStatus>,
    pub partitions: Vec<PartitionStatus>,
    pub max_lag: Option<i64>,
}

pub async fn run(global: &Global, cmd: GroupsCommand) -> anyhow::Result<ExitCode> {
    let GroupsCommand::Status { group, max_lag } = cmd;
    let stored = stored_offsets(&global.database_url).await?;
    let g = global.clone();
    let groups = tokio::task::spawn_blocking(move || status(&g, group.as_deref(), &stored)).await??;
    let worst = groups.iter().filter_map(|g| g.max_lag).max();
    if global.json {
        println!("{}", serde_json::to_string(&groups)?);
    } else {
        print_text(&groups);
    }
    if let (Some(limit), Some(worst)) = (max_lag, worst) {
        if worst > limit {
            eprintln!("lag {worst} exceeds --max-lag {limit}");
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

type Stored = HashMap<String, BTreeMap<(String, i32), i64>>;

/// Every projection's stored offsets, by projection.
async fn stored_offsets(database_url: &str) -> anyhow::Result<Stored> {
    let pool = beaver_platform::connect_mysql(database_url, 1).await?;
    let rows: Vec<(String, String, i32, i64)> =
        sqlx::query_as("SELECT projector, topic, partition_id, next_offset FROM projector_offsets")
            .fetch_all(&pool)
            .await
            .context("Failed to read projector_offsets")?;
    let mut out: Stored = HashMap::new();
    for (projector, topic, partition, next) in rows {
        out.entry(projector).or_default().insert((topic, partition), next);
    }
    Ok(out)
}

fn status(global: &Global, filter: Option<&str>, stored: &Stored) -> anyhow::Result<Vec<GroupStatus>> {
    let consumer = kafka::reader(&global.brokers, "beaver-admin")?;
    let topics = kafka::topics(&consumer, None)?;
    let mut ends: HashMap<(String, i32), i64> = HashMap::new();
    for t in &topics {
        for p in &t.partitions {
            ends.insert((t.name.clone(), *p), kafka::watermarks(&consumer, &t.name, *p)?.1);
        }
    }
    let list = consumer.fetch_group_list(None, kafka::TIMEOUT).context("Failed to list consumer groups")?;
    let mut out = Vec::new();
    let mut groups: Vec<_> = list.groups().iter().filter(|g| filter.is_none_or(|f| g.name().contains(f))).collect();
    groups.sort_by(|a, b| a.name().cmp(b.name()));
    for g in groups {
        let projection = g
            .name()
            .strip_prefix(global.group_prefix.as_str())
            .filter(|name| beaver_projectors::read_model(name).is_some())
            .map(str::to_owned);
        let members: Vec<MemberStatus> = g
            .members()
            .iter()
            .map(|m| MemberStatus {
                member_id: m.id().to_owned(),
                client_id: m.client_id().to_owned(),
                host: m.client_host().to_owned(),
                assignment: m.assignment().map(parse_assignment).unwrap_or_default(),
            })
            .collect();
        let mut owner: HashMap<(String, i32), String> = HashMap::new();
        for m in &members {
            for (topic, partitions) in &m.assignment {
                for p in partitions {
                    owner.insert((topic.clone(), *p), m.client_id.clone());
                }
            }
        }
        // Kafka's committed offsets, asked as the group (without joining it).
        let asker = kafka::reader(&global.brokers, g.name())?;
        let mut tpl = TopicPartitionList::new();
        for t in &topics {
            for p in &t.partitions {
                tpl.add_partition(&t.name, *p);
            }
        }
        let committed = asker.committed_offsets(tpl, kafka::TIMEOUT).context("Failed to fetch committed offsets")?;
        let mut committed_at: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for e in committed.elements() {
            if let Offset::Offset(o) = e.offset() {
                committed_at.insert((e.topic().to_owned(), e.partition()), o);
            }
        }
        let own = projection.as_ref().and_then(|p| stored.get(p));
        let mut keys: BTreeSet<(String, i32)> = committed_at.keys().cloned().collect();
        keys.extend(owner.keys().cloned());
        if let Some(own) = own {
            // Only rows of topics that exist (a test's prefixed topics may be gone).
            keys.extend(own.keys().filter(|k| ends.contains_key(*k)).cloned());
        }
        let partitions: Vec<PartitionStatus> = keys
            .into_iter()
            .map(|key| {
                let end = ends.get(&key).copied().unwrap_or(0);
                let committed = committed_at.get(&key).copied();
                let stored = own.and_then(|o| o.get(&key)).copied();
                let lag = stored.or(committed).map(|pos| (end - pos).max(0));
                PartitionStatus { member: owner.get(&key).cloned(), topic: key.0, partition: key.1, committed, stored, end, lag }
            })
            .collect();
        let max_lag = partitions.iter().filter_map(|p| p.lag).max();
        out.push(GroupStatus { group: g.name().to_owned(), state: g.state().to_owned(), projection, members, partitions, max_lag });
    }
    Ok(out)
}

/// Decodes a consumer-protocol member assignment (version, then per topic
/// its name and partitions); anything unreadable gives an empty list.
pub fn parse_assignment(bytes: &[u8]) -> Vec<(String, Vec<i32>)> {
    fn read(bytes: &[u8]) -> Option<Vec<(String, Vec<i32>)>> {
        let mut at = 0usize;
        let mut take = |n: usize| {
            let slice = bytes.get(at..at + n)?;
            at += n;
            Some(slice)
        };
        take(2)?; // version
        let topics = i32::from_be_bytes(take(4)?.try_into().ok()?);
        let mut out = Vec::new();
        for _ in 0..topics.max(0) {
            let len = i16::from_be_bytes(take(2)?.try_into().ok()?);
            let name = String::from_utf8(take(len.max(0) as usize)?.to_vec()).ok()?;
            let count = i32::from_be_bytes(take(4)?.try_into().ok()?);
            let mut partitions = Vec::new();
            for _ in 0..count.max(0) {
                partitions.push(i32::from_be_bytes(take(4)?.try_into().ok()?));
            }
            out.push((name, partitions));
        }
        Some(out)
    }
    read(bytes).unwrap_or_default()
}

fn print_text(groups: &[GroupStatus]) {
    for g in groups {
        let lag = g.max_lag.map(|l| l.to_string()).unwrap_or_else(|| "-".into());
        let projection = g.projection.as_deref().map(|p| format!(" projection={p}")).unwrap_or_default();
        println!("GROUP {} state={} members={} max_lag={lag}{projection}", g.group, g.state, g.members.len());
        for m in &g.members {
            let owned: Vec<String> = m.assignment.iter().map(|(t, ps)| format!("{t}{ps:?}")).collect();
            println!("  member {} ({}) {}", m.client_id, m.host, owned.join(" "));
        }
        if g.partitions.is_empty() {
            continue;
        }
        println!("  {:<28} {:>9} {:>10} {:>10} {:>10} {:>8}", "TOPIC", "PARTITION", "COMMITTED", "STORED", "END", "LAG");
        let show = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        for p in &g.partitions {
            println!(
                "  {:<28} {:>9} {:>10} {:>10} {:>10} {:>8}",
                p.topic,
                p.partition,
                show(p.committed),
                show(p.stored),
                p.end,
                show(p.lag)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_decodes_to_topics_and_partitions() {
        let mut b = vec![0u8, 1];
        b.extend(1i32.to_be_bytes());
        b.extend(15i16.to_be_bytes());
        b.extend(b"beaver.users.v1");
        b.extend(2i32.to_be_bytes());
        b.extend(0i32.to_be_bytes());
        b.extend(3i32.to_be_bytes());
        b.extend(0i32.to_be_bytes()); // user data
        assert_eq!(parse_assignment(&b), vec![("beaver.users.v1".to_owned(), vec![0, 3])]);
        assert!(parse_assignment(&[0, 1, 0]).is_empty());
    }
}
