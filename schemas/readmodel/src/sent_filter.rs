//! The sent-key filter: a Bloom filter, in Redis, of every `(conversation,
//! sender, client_msg_id)` stored in the `messages` read model. It lets a send
//! skip the read model's idempotency lookup when the key was certainly never
//! stored (docs/chat.md, "Idempotent sends").
//!
//! - **Writers.** The messages projection sets a message's bits in the Redis
//!   pipeline it sends *before* committing the row ([`add`]), so every stored
//!   row's bits were acknowledged by Redis first.
//! - **Readers.** [`check`] answers in one script call: [`Check::Absent`]
//!   (never stored: skip the lookup), [`Check::Maybe`] (stored or a false
//!   positive: look it up) or [`Check::Untrusted`].
//! - **Trust.** Redis may lose acknowledged writes (a restart loses up to the
//!   last second of its append-only file; a new server loses everything). The
//!   filter is trusted only while the `ready` key holds the run id of the
//!   running Redis server and the bitmap exists; a restart changes the run
//!   id. The projectors' keeper then rebuilds it from the table and sets
//!   `ready` again (projectors/src/sent_filter.rs).
//!
//! The layout (size, hash, number of bits) is fixed here: both sides must
//! compute the same positions, so a change needs a new key name.

use crate::keys;
use sha2::{Digest, Sha256};
use sqlx::MySqlPool;
use std::sync::LazyLock;
use uuid::Uuid;

/// Bits in the filter: 2^27 (16 MiB of Redis memory). With [`HASHES`] bits
/// per key the false-positive rate is about 1 % at 14 million stored
/// messages and 10 % at 28 million; a false positive only costs the lookup.
pub const BITS: u64 = 1 << 27;

/// Bits set per key.
pub const HASHES: usize = 7;

/// The byte just past the bits, where the keeper writes [`MARKER`] when it
/// (re)builds the filter. Writers never touch it, so a bitmap deleted and
/// recreated by later writes (an operator's `DEL`, an eviction) lacks it and
/// is not trusted. Writing it only extends the string: no bit is cleared.
pub const MARKER_OFFSET: u64 = BITS / 8;

/// The marker byte.
pub const MARKER: u8 = 0xA5;

/// The bit positions of a key: SHA-256 of `conversation_id 0 sender 0
/// client_msg_id` gives two 64-bit numbers `a`, `b`; position `i` is
/// `(a + i·b) mod BITS` (double hashing; `b` is odd, so the seven differ).
pub fn positions(conversation_id: &str, sender: Uuid, client_msg_id: impl AsRef<[u8]>) -> [u64; HASHES] {
    let digest = Sha256::new()
        .chain_update(conversation_id.as_bytes())
        .chain_update([0])
        .chain_update(sender.as_bytes())
        .chain_update([0])
        .chain_update(client_msg_id.as_ref())
        .finalize();
    let a = u64::from_le_bytes(digest[0..8].try_into().expect("8 bytes"));
    let b = u64::from_le_bytes(digest[8..16].try_into().expect("8 bytes")) | 1;
    std::array::from_fn(|i| a.wrapping_add((i as u64).wrapping_mul(b)) % BITS)
}

/// Adds a stored message's key to `pipe` (one `BITFIELD`).
pub fn add(pipe: &mut redis::Pipeline, conversation_id: &str, sender: Uuid, client_msg_id: impl AsRef<[u8]>) {
    let mut cmd = redis::cmd("BITFIELD");
    cmd.arg(keys::sent_filter_bits());
    for p in positions(conversation_id, sender, client_msg_id) {
        cmd.arg("SET").arg("u1").arg(p).arg(1);
    }
    pipe.add_command(cmd).ignore();
}

/// What the filter says about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Not in the filter: no stored message has this key.
    Absent,
    /// In the filter: stored, or a false positive.
    Maybe,
    /// The filter is not trusted (being rebuilt, or Redis lost data).
    Untrusted,
}

/// `KEYS`: bits, ready. `ARGV`: marker offset, marker, then the positions.
/// -1 untrusted, 0 absent, 1 maybe.
static CHECK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local ready = redis.call('GET', KEYS[2])
if not ready or redis.call('GETRANGE', KEYS[1], ARGV[1], ARGV[1]) ~= ARGV[2] then return -1 end
if ready ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return -1 end
for i = 3, #ARGV do
  if redis.call('GETBIT', KEYS[1], ARGV[i]) == 0 then return 0 end
end
return 1
",
    )
});

/// The keeper's last step. `KEYS`: bits, ready, lock. `ARGV`: lock holder,
/// run id, marker offset, marker. Sets `ready` to the run id only if the
/// caller still holds the lock, the marker is there and the server is the
/// one the rebuild started on. 1 when set.
static FINISH: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
if redis.call('GETRANGE', KEYS[1], ARGV[3], ARGV[3]) ~= ARGV[4] then return 0 end
if ARGV[2] ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
",
    )
});

/// Asks the filter about a key (one script call).
pub async fn check(redis: &mut redis::aio::ConnectionManager, conversation_id: &str, sender: Uuid, client_msg_id: &str) -> redis::RedisResult<Check> {
    let mut invocation = CHECK.key(keys::sent_filter_bits());
    invocation.key(keys::sent_filter_ready()).arg(MARKER_OFFSET).arg(&[MARKER][..]);
    for p in positions(conversation_id, sender, client_msg_id) {
        invocation.arg(p);
    }
    let answer: i64 = invocation.invoke_async(redis).await?;
    Ok(match answer {
        0 => Check::Absent,
        1 => Check::Maybe,
        _ => Check::Untrusted,
    })
}

/// The running Redis server's run id (changes at every restart).
pub async fn run_id(redis: &mut impl redis::aio::ConnectionLike) -> redis::RedisResult<String> {
    let info: String = redis::cmd("INFO").arg("server").query_async(redis).await?;
    Ok(info.lines().find_map(|l| l.strip_prefix("run_id:")).unwrap_or_default().trim().to_owned())
}

/// Whether the filter is trusted now: `ready` holds the running server's
/// run id and the bitmap carries the keeper's marker.
pub async fn trusted(redis: &mut redis::aio::ConnectionManager) -> redis::RedisResult<bool> {
    let (ready, marker): (Option<String>, Vec<u8>) =
        redis::pipe().get(keys::sent_filter_ready()).getrange(keys::sent_filter_bits(), MARKER_OFFSET as isize, MARKER_OFFSET as isize).query_async(redis).await?;
    Ok(marker == [MARKER] && ready.as_deref().is_some_and(|r| !r.is_empty()) && ready == Some(run_id(redis).await?))
}

/// Writes the marker (the keeper, before adding the stored keys).
pub fn mark(pipe: &mut redis::Pipeline) {
    pipe.cmd("SETRANGE").arg(keys::sent_filter_bits()).arg(MARKER_OFFSET).arg(&[MARKER][..]).ignore();
}

/// Declares the filter trusted for `run_id` if `holder` still holds the
/// rebuild lock, the marker is there and `run_id` is the running server's.
pub async fn finish(redis: &mut redis::aio::ConnectionManager, holder: &str, run_id: &str) -> redis::RedisResult<bool> {
    let mut invocation = FINISH.key(keys::sent_filter_bits());
    invocation.key(keys::sent_filter_ready()).key(keys::sent_filter_rebuild_lock()).arg(holder).arg(run_id).arg(MARKER_OFFSET).arg(&[MARKER][..]);
    let set: i64 = invocation.invoke_async(redis).await?;
    Ok(set == 1)
}

/// Ors the bits of another filter (a shadow rebuild's, on another Redis
/// database) into this one, so that rows swapped in from the shadow are
/// covered. The marker and `ready` of `into` are left as they are.
pub async fn merge(from: &mut redis::aio::ConnectionManager, into: &mut redis::aio::ConnectionManager) -> redis::RedisResult<bool> {
    let bits = keys::sent_filter_bits();
    let payload: Option<Vec<u8>> = redis::cmd("DUMP").arg(&bits).query_async(from).await?;
    let Some(payload) = payload else { return Ok(false) };
    let scratch = format!("{bits}:merge");
    let _: () = redis::pipe()
        .cmd("RESTORE")
        .arg(&scratch)
        .arg(0)
        .arg(payload)
        .arg("REPLACE")
        .ignore()
        .cmd("BITOP")
        .arg("OR")
        .arg(&bits)
        .arg(&bits)
        .arg(&scratch)
        .ignore()
        .del(&scratch)
        .ignore()
        .query_async(into)
        .await?;
    Ok(true)
}

/// One page of stored keys after `after` (`(conversation_id, seq)` order, the
/// primary key), for a rebuild: `(conversation_id, seq, sender_id,
/// client_msg_id)`; the client id as stored, exact bytes.
pub async fn stored_keys_after(pool: &MySqlPool, after: Option<(&str, i64)>, limit: u32) -> Result<Vec<(String, i64, String, Vec<u8>)>, sqlx::Error> {
    match after {
        None => {
            sqlx::query_as("SELECT conversation_id, seq, sender_id, client_msg_id FROM messages ORDER BY conversation_id, seq LIMIT ?")
                .bind(limit)
                .fetch_all(pool)
                .await
        }
        Some((conversation, seq)) => {
            sqlx::query_as(
                "SELECT conversation_id, seq, sender_id, client_msg_id FROM messages \
                 WHERE conversation_id > ? OR (conversation_id = ? AND seq > ?) ORDER BY conversation_id, seq LIMIT ?",
            )
            .bind(conversation)
            .bind(conversation)
            .bind(seq)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_in_range_distinct_and_depend_on_every_part_of_the_key() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let p = positions("direct:x:y", a, "m1");
        assert!(p.iter().all(|&x| x < BITS));
        let mut sorted = p.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), HASHES, "seven distinct bits: {p:?}");
        assert_eq!(p, positions("direct:x:y", a, "m1"), "deterministic");
        assert_ne!(p, positions("direct:x:z", a, "m1"));
        assert_ne!(p, positions("direct:x:y", b, "m1"));
        assert_ne!(p, positions("direct:x:y", a, "M1"), "ids are compared as exact bytes");
        // The separator keeps the parts apart.
        assert_ne!(positions("ab", a, "c"), positions("a", a, "bc"));
    }

    /// Writers and readers in different processes and versions must agree:
    /// a change of the function needs a new key name (the old bits would
    /// answer "absent" for stored keys). The values were computed
    /// independently (Python's hashlib, the formula in [`positions`]).
    #[test]
    fn the_layout_is_pinned() {
        let conversation = "direct:0194f1c2-0000-7000-8000-000000000001:0194f1c2-0000-7000-8000-000000000002";
        assert_eq!(positions(conversation, Uuid::from_u128(7), "c-1"), [55686852, 91806035, 127925218, 29826673, 65945856, 102065039, 3966494]);
    }

    #[test]
    fn false_positives_stay_near_one_percent_at_the_stated_load() {
        // A scaled model of the filter: 2^20 bits with 2^20 / 9.6 keys is
        // the load of 14 million keys in 2^27 bits.
        let bits = 1u64 << 20;
        let mut set = vec![false; bits as usize];
        let scaled = |p: [u64; HASHES]| p.map(|x| x % bits);
        let n = (bits as f64 / 9.6) as u128;
        for i in 0..n {
            for x in scaled(positions("group:g", Uuid::from_u128(i), "k")) {
                set[x as usize] = true;
            }
        }
        let probes = 20_000u128;
        let hits = (0..probes).filter(|i| scaled(positions("group:g", Uuid::from_u128(n + i), "k")).iter().all(|&x| set[x as usize])).count();
        let rate = hits as f64 / probes as f64;
        assert!(rate < 0.02, "false-positive rate {rate}");
    }
}
