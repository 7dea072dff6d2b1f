//! The sequencer's rules, without I/O: what one partition of
//! `beaver.messages.v1` decides, record by record.
//!
//! A partition's state is each conversation's top seq and the dedup window
//! of recent `(conversation, sender, client_msg_id)` sends. Everything is a
//! function of the log alone — the window is measured in the log's own time
//! (the `occurred_at` of the `MessageSent`s), never the clock — so reading the
//! same records again, after a crash or from offset 0, decides the same seqs.
//! Every change is also returned as a [`Change`], which the worker writes to
//! the compacted state topic about once a second (in a transaction that also
//! carries output). What changed since is derived again from the output on
//! a restart: every fresh `MessageSent` is on `beaver.sequenced.v1` as its
//! `MessageSequenced`, and the state is a function of those alone (a repeat
//! changes nothing, not even the window's clock), so
//! [`PartitionState::replay`] of the output's tail rebuilds it exactly.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use uuid::Uuid;

/// A sent message as the dedup window remembers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub message_id: Uuid,
    pub seq: i64,
    /// Log time of the original `MessageSent`, milliseconds since the epoch.
    pub at_ms: i64,
}

/// What becomes of one `MessageSent`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Numbering {
    /// A new message: it gets this seq.
    Fresh { seq: i64 },
    /// A repeat of a `(sender, client_msg_id)` still in the window: dropped,
    /// and its sender gets the original's answer.
    Repeat(Sent),
}

/// A change of state, as written to the state topic (key, value; `None` deletes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// The state-topic key of a conversation's top seq.
pub fn top_key(conversation: &str) -> String {
    format!("top|{conversation}")
}

/// The state-topic key of a send in the dedup window.
pub fn sent_key(conversation: &str, sender: Uuid, client_msg_id: &str) -> String {
    format!("sent|{conversation}|{sender}|{client_msg_id}")
}

/// The state-topic key of the partition's checkpoint (the next input offset).
pub const CHECKPOINT_KEY: &str = "checkpoint";

/// One input partition's state.
#[derive(Debug)]
pub struct PartitionState {
    window_ms: i64,
    tops: HashMap<String, i64>,
    sent: HashMap<String, Sent>,
    /// Sends in the order they leave the window: (at_ms, key).
    expiry: VecDeque<(i64, String)>,
    /// Latest log time seen.
    clock_ms: i64,
    /// The next input offset to read (the checkpoint).
    pub next_offset: i64,
    /// From the restored checkpoint: where on the output partition to start
    /// reading what was decided after it (`None`: a checkpoint written with
    /// every transaction, nothing to replay).
    pub replay_from: Option<i64>,
}

/// The value of a partition's checkpoint record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The next input offset to read.
    pub next_offset: i64,
    /// An output offset at or before the first record decided after
    /// `next_offset`: a restart replays the output from here.
    pub output_from: i64,
}

impl PartitionState {
    pub fn new(window_ms: i64) -> Self {
        PartitionState { window_ms, tops: HashMap::new(), sent: HashMap::new(), expiry: VecDeque::new(), clock_ms: i64::MIN, next_offset: 0, replay_from: None }
    }

    /// Numbers one `MessageSent` read at log time `at_ms`, appending the state changes to `changes`.
    pub fn number_sent(
        &mut self,
        conversation: &str,
        sender: Uuid,
        client_msg_id: &str,
        message_id: Uuid,
        at_ms: i64,
        changes: &mut Vec<Change>,
    ) -> Numbering {
        let key = sent_key(conversation, sender, client_msg_id);
        // A repeat changes no state, not even the clock: the state is then a
        // function of the fresh sends alone, which the output holds.
        let horizon = self.clock_ms.max(at_ms).saturating_sub(self.window_ms);
        if let Some(original) = self.sent.get(&key).filter(|s| s.at_ms >= horizon) {
            return Numbering::Repeat(original.clone());
        }
        self.advance(at_ms, changes);
        let top = self.tops.entry(conversation.to_owned()).or_insert(0);
        *top += 1;
        let seq = *top;
        changes.push(Change { key: top_key(conversation), value: Some(seq.to_string().into_bytes()) });
        let sent = Sent { message_id, seq, at_ms: at_ms.max(self.clock_ms) };
        changes.push(Change { key: key.clone(), value: Some(serde_json::to_vec(&sent).expect("Sent serialises")) });
        self.expiry.push_back((sent.at_ms, key.clone()));
        self.sent.insert(key, sent);
        Numbering::Fresh { seq }
    }

    /// Moves the log clock forward and forgets the sends that left the window.
    fn advance(&mut self, at_ms: i64, changes: &mut Vec<Change>) {
        self.clock_ms = self.clock_ms.max(at_ms);
        let horizon = self.clock_ms.saturating_sub(self.window_ms);
        while let Some((at, _)) = self.expiry.front() {
            if *at >= horizon {
                break;
            }
            let (_, key) = self.expiry.pop_front().expect("front exists");
            self.sent.remove(&key);
            changes.push(Change { key, value: None });
        }
    }

    /// Applies again a `MessageSequenced` read from the output after the
    /// restored checkpoint: numbering its `MessageSent` again must give the
    /// seq it was given, or the state is not the one the output was decided
    /// from (an error: the sequencer refuses to guess).
    #[allow(clippy::too_many_arguments)]
    pub fn replay(
        &mut self,
        conversation: &str,
        sender: Uuid,
        client_msg_id: &str,
        message_id: Uuid,
        seq: i64,
        at_ms: i64,
        changes: &mut Vec<Change>,
    ) -> anyhow::Result<()> {
        match self.number_sent(conversation, sender, client_msg_id, message_id, at_ms, changes) {
            Numbering::Fresh { seq: again } if again == seq => Ok(()),
            other => anyhow::bail!("replaying {conversation} seq {seq} ({message_id}) decided {other:?}: the state does not match the output"),
        }
    }

    /// Applies one record of the state topic (restoring after a start).
    pub fn restore(&mut self, key: &str, value: Option<&[u8]>) -> anyhow::Result<()> {
        if key == CHECKPOINT_KEY {
            if let Some(v) = value {
                // A bare number: written with every transaction (before
                // 2026-12); nothing after it to replay.
                match serde_json::from_slice::<Checkpoint>(v) {
                    Ok(c) => {
                        self.next_offset = c.next_offset;
                        self.replay_from = Some(c.output_from);
                    }
                    Err(_) => {
                        self.next_offset = std::str::from_utf8(v)?.parse()?;
                        self.replay_from = None;
                    }
                }
            }
        } else if let Some(conversation) = key.strip_prefix("top|") {
            if let Some(v) = value {
                self.tops.insert(conversation.to_owned(), std::str::from_utf8(v)?.parse()?);
            }
        } else if key.starts_with("sent|") {
            match value {
                Some(v) => {
                    let sent: Sent = serde_json::from_slice(v)?;
                    self.sent.insert(key.to_owned(), sent);
                }
                None => {
                    self.sent.remove(key);
                }
            }
        } else {
            anyhow::bail!("unknown state key {key:?}");
        }
        Ok(())
    }

    /// Rebuilds the expiry order and the clock once restoring is done.
    pub fn restored(&mut self) {
        let mut order: Vec<(i64, String)> = self.sent.iter().map(|(k, s)| (s.at_ms, k.clone())).collect();
        order.sort();
        self.clock_ms = order.last().map(|(at, _)| *at).unwrap_or(i64::MIN);
        self.expiry = order.into();
    }

    /// The checkpoint record for the state topic; `output_from` is an
    /// output offset at or before anything decided after it.
    pub fn checkpoint(&self, output_from: i64) -> Change {
        let c = Checkpoint { next_offset: self.next_offset, output_from };
        Change { key: CHECKPOINT_KEY.to_owned(), value: Some(serde_json::to_vec(&c).expect("a checkpoint serialises")) }
    }

    /// Sends currently remembered (for metrics).
    pub fn window_len(&self) -> usize {
        self.sent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: i64 = 600_000;

    fn send(s: &mut PartitionState, conv: &str, sender: Uuid, cmid: &str, at: i64, changes: &mut Vec<Change>) -> Numbering {
        s.number_sent(conv, sender, cmid, Uuid::now_v7(), at, changes)
    }

    #[test]
    fn each_conversation_counts_from_one_without_gaps() {
        let mut s = PartitionState::new(WINDOW);
        let a = Uuid::now_v7();
        let mut c = Vec::new();
        let seqs: Vec<_> = ["x", "y", "x", "x", "y"]
            .iter()
            .enumerate()
            .map(|(i, conv)| send(&mut s, conv, a, &format!("m{i}"), 1000 + i as i64, &mut c))
            .collect();
        assert_eq!(
            seqs,
            [1, 1, 2, 3, 2].map(|seq| Numbering::Fresh { seq }).to_vec()
        );
    }

    #[test]
    fn a_repeat_in_the_window_gets_the_original_and_changes_nothing() {
        let mut s = PartitionState::new(WINDOW);
        let a = Uuid::now_v7();
        let mut c = Vec::new();
        let first = Uuid::now_v7();
        assert_eq!(s.number_sent("x", a, "m", first, 1000, &mut c), Numbering::Fresh { seq: 1 });
        let mut after = Vec::new();
        let again = s.number_sent("x", a, "m", Uuid::now_v7(), 2000, &mut after);
        assert_eq!(again, Numbering::Repeat(Sent { message_id: first, seq: 1, at_ms: 1000 }));
        assert!(after.is_empty());
        // another sender's same client_msg_id is a different message
        assert_eq!(send(&mut s, "x", Uuid::now_v7(), "m", 3000, &mut c), Numbering::Fresh { seq: 2 });
    }

    #[test]
    fn past_the_window_a_send_is_forgotten_with_a_tombstone() {
        let mut s = PartitionState::new(WINDOW);
        let a = Uuid::now_v7();
        let mut c = Vec::new();
        send(&mut s, "x", a, "old", 0, &mut c);
        c.clear();
        assert_eq!(send(&mut s, "x", a, "new", WINDOW + 1, &mut c), Numbering::Fresh { seq: 2 });
        assert!(c.contains(&Change { key: sent_key("x", a, "old"), value: None }));
        assert_eq!(s.window_len(), 1);
        // the old id is fresh again (the read model's unique key answers for it: docs/chat.md)
        assert_eq!(send(&mut s, "x", a, "old", WINDOW + 2, &mut c), Numbering::Fresh { seq: 3 });
    }

    #[test]
    fn log_time_going_backwards_does_not_expire_early_or_late() {
        let mut s = PartitionState::new(WINDOW);
        let a = Uuid::now_v7();
        let mut c = Vec::new();
        send(&mut s, "x", a, "m1", 10_000, &mut c);
        // an earlier timestamp later in the log (another producer's clock)
        assert!(matches!(send(&mut s, "x", a, "m1", 5_000, &mut c), Numbering::Repeat(_)));
    }

    #[test]
    fn restoring_from_the_changes_gives_the_same_decisions() {
        let a = Uuid::now_v7();
        let mut live = PartitionState::new(WINDOW);
        let mut changes = Vec::new();
        for i in 0..50 {
            live.number_sent(if i % 3 == 0 { "x" } else { "y" }, a, &format!("m{i}"), Uuid::now_v7(), i * 20_000, &mut changes);
        }
        live.next_offset = 50;
        changes.push(live.checkpoint(7));
        let mut restored = PartitionState::new(WINDOW);
        for ch in &changes {
            restored.restore(&ch.key, ch.value.as_deref()).unwrap();
        }
        restored.restored();
        assert_eq!(restored.next_offset, 50);
        assert_eq!(restored.replay_from, Some(7));
        assert_eq!(restored.window_len(), live.window_len());
        let (mut c1, mut c2) = (Vec::new(), Vec::new());
        for i in 40..60 {
            let cmid = format!("m{i}");
            let id = Uuid::now_v7();
            let at = 1_000_000 + i;
            assert_eq!(live.number_sent("x", a, &cmid, id, at, &mut c1), restored.number_sent("x", a, &cmid, id, at, &mut c2));
        }
        assert_eq!(c1, c2);
    }

    #[test]
    fn a_repeat_moves_no_clock_so_it_expires_nothing() {
        let mut s = PartitionState::new(WINDOW);
        let a = Uuid::now_v7();
        let mut c = Vec::new();
        send(&mut s, "x", a, "old", 0, &mut c);
        send(&mut s, "x", a, "m", 10, &mut c);
        c.clear();
        // a resend of "m" stamped past old's window: still a repeat, and "old" stays
        assert!(matches!(send(&mut s, "x", a, "m", WINDOW + 5, &mut c), Numbering::Repeat(_)));
        assert!(c.is_empty());
        assert_eq!(s.window_len(), 2);
        // a resend stamped past its own original's window is a new message
        assert_eq!(send(&mut s, "x", a, "old", WINDOW + 5, &mut c), Numbering::Fresh { seq: 3 });
    }

    /// The live run (repeats included) against a restart from a checkpoint
    /// taken half-way, with the fresh sends after it replayed from the output.
    #[test]
    fn a_checkpoint_plus_the_replayed_output_is_the_live_state() {
        let a = Uuid::now_v7();
        let mut live = PartitionState::new(WINDOW);
        let mut flushed = Vec::new();
        let mut output = Vec::new(); // (conversation, cmid, message_id, seq, at)
        let sends: Vec<(&str, String, i64)> = (0..80)
            .map(|i: i64| (if i % 4 == 0 { "x" } else { "y" }, format!("m{}", if i % 7 == 3 { i - 1 } else { i }), i * 15_000))
            .collect();
        let mut after_flush = Vec::new();
        for (i, (conv, cmid, at)) in sends.iter().enumerate() {
            let id = Uuid::now_v7();
            let target = if i < 40 { &mut flushed } else { &mut after_flush };
            if let Numbering::Fresh { seq } = live.number_sent(conv, a, cmid, id, *at, target) {
                if i >= 40 {
                    output.push((conv.to_string(), cmid.clone(), id, seq, *at));
                }
            }
            if i == 39 {
                live.next_offset = 40;
                flushed.push(live.checkpoint(0));
            }
        }
        let mut restored = PartitionState::new(WINDOW);
        for ch in &flushed {
            restored.restore(&ch.key, ch.value.as_deref()).unwrap();
        }
        restored.restored();
        let mut replayed = Vec::new();
        for (conv, cmid, id, seq, at) in &output {
            restored.replay(conv, a, cmid, *id, *seq, *at, &mut replayed).unwrap();
        }
        assert_eq!(replayed, after_flush, "replaying gives the changes the live run made");
        assert_eq!(restored.window_len(), live.window_len());
        let (mut c1, mut c2) = (Vec::new(), Vec::new());
        for i in 60..100 {
            let cmid = format!("m{i}");
            let id = Uuid::now_v7();
            let at = 1_300_000 + i * 1000;
            assert_eq!(live.number_sent("x", a, &cmid, id, at, &mut c1), restored.number_sent("x", a, &cmid, id, at, &mut c2));
        }
        assert_eq!(c1, c2);
    }

    #[test]
    fn a_replayed_seq_that_does_not_follow_is_refused() {
        let a = Uuid::now_v7();
        let mut s = PartitionState::new(WINDOW);
        let mut c = Vec::new();
        s.replay("x", a, "m1", Uuid::now_v7(), 1, 1000, &mut c).unwrap();
        assert!(s.replay("x", a, "m2", Uuid::now_v7(), 3, 2000, &mut c).is_err(), "a gap");
        let mut s = PartitionState::new(WINDOW);
        s.replay("x", a, "m1", Uuid::now_v7(), 1, 1000, &mut c).unwrap();
        assert!(s.replay("x", a, "m1", Uuid::now_v7(), 2, 2000, &mut c).is_err(), "a repeat in the output");
    }

    #[test]
    fn a_bare_number_checkpoint_has_nothing_to_replay() {
        let mut s = PartitionState::new(WINDOW);
        s.restore(CHECKPOINT_KEY, Some(b"42")).unwrap();
        assert_eq!((s.next_offset, s.replay_from), (42, None));
        s.restore(CHECKPOINT_KEY, Some(br#"{"next_offset":50,"output_from":9}"#)).unwrap();
        assert_eq!((s.next_offset, s.replay_from), (50, Some(9)));
    }

    #[test]
    fn unknown_state_keys_are_refused() {
        let mut s = PartitionState::new(WINDOW);
        assert!(s.restore("what|ever", Some(b"1")).is_err());
        assert!(s.restore("top|x", Some(b"not a number")).is_err());
    }
}
