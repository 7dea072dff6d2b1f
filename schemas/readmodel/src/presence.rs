//! Online state, shared by ws-push (which writes it) and query-api (which
//! reads it). Per user, the sorted set `beaver:online:<user>` ([`crate::keys::online`]) holds one member
//! per live connection, `<connection id>|<platform>|<node>`, scored by the
//! Unix time in milliseconds at which it expires unless its node refreshes
//! it. A user is online while any member's score is in the future, so a dead
//! node's connections go offline on their own (docs/push.md, "Presence").

use redis::AsyncCommands;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// A set member naming one connection.
pub fn member(connection: Uuid, platform: &str, node: &str) -> String {
    format!("{connection}|{platform}|{node}")
}

/// The platform part of a member.
pub fn platform_of(member: &str) -> Option<&str> {
    member.split('|').nth(1)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The platforms (sorted, deduplicated) on which each user is connected now.
pub async fn platforms(redis: &mut redis::aio::ConnectionManager, users: &[Uuid]) -> redis::RedisResult<Vec<Vec<String>>> {
    let now = now_ms();
    let mut pipe = redis::pipe();
    for user in users {
        pipe.zrangebyscore(crate::keys::online(*user), now, "+inf");
    }
    let lists: Vec<Vec<String>> = pipe.query_async(redis).await?;
    Ok(lists
        .into_iter()
        .map(|members| {
            let mut platforms: Vec<String> = members.iter().filter_map(|m| platform_of(m)).map(str::to_owned).collect();
            platforms.sort();
            platforms.dedup();
            platforms
        })
        .collect())
}

/// How many of a user's connections are live now.
pub async fn live_connections(redis: &mut redis::aio::ConnectionManager, user: Uuid) -> redis::RedisResult<usize> {
    redis.zcount(crate::keys::online(user), now_ms(), "+inf").await
}

/// [`platforms`] as `viewer` may see them: their own and their friends'
/// (`beaver:friends:<viewer>`, kept by the relations projector). Anyone else
/// gets the empty list — the same answer as a user who is offline.
pub async fn platforms_visible_to(redis: &mut redis::aio::ConnectionManager, viewer: Uuid, users: &[Uuid]) -> redis::RedisResult<Vec<Vec<String>>> {
    let friends: Vec<bool> = redis::cmd("SMISMEMBER")
        .arg(crate::keys::friends(viewer))
        .arg(users.iter().map(Uuid::to_string).collect::<Vec<_>>())
        .query_async(redis)
        .await?;
    let visible: Vec<Uuid> = users.iter().zip(&friends).filter(|(id, friend)| **friend || **id == viewer).map(|(id, _)| *id).collect();
    let mut seen = if visible.is_empty() { Vec::new() } else { platforms(redis, &visible).await? }.into_iter();
    Ok(users.iter().map(|id| if visible.contains(id) { seen.next().unwrap_or_default() } else { Vec::new() }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_names_its_platform() {
        let m = member(Uuid::nil(), "ios", "ws-1");
        assert_eq!(platform_of(&m), Some("ios"));
        assert_eq!(platform_of("garbage"), None);
    }
}
