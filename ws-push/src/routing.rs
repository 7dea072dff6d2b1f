//! Who gets what: each event a node reads from Kafka becomes at most one
//! frame and the audience that should receive it (docs/push.md,
//! "Recipients"). Pure: the audience names users, conversations and groups;
//! the hub resolves groups through the Redis membership cache.

use crate::protocol::{frame, ServerFrame};
use beaver_events::{
    message::ConversationRef, moment::Visibility, topics, CallEvent, EmojiEvent, FeedbackEvent, GroupEvent, MessageEvent, MomentEvent, NotificationEvent, RawEnvelope, RelationEvent, SequencedEvent, SessionEvent,
    SystemEvent,
};
use beaver_readmodel::conversation::Message;
use serde_json::{json, Value};
use uuid::Uuid;

/// A set of recipients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    User(Uuid),
    /// Both users of a 1:1 conversation, or a group's members.
    Conversation(ConversationRef),
    /// The owner and admins of a group.
    GroupAdmins(Uuid),
    /// The author's friends whom a new moment's visibility lets see it
    /// (with no block either way): from the Redis friend and block sets.
    MomentAudience { author: Uuid, visibility: Visibility, users: Vec<Uuid> },
    /// A user, if they may see the moment now (checked in the read model).
    MomentViewer { user: Uuid, moment: Uuid },
    /// Everyone rung by or in a call (from the calls read model).
    CallParties(Uuid),
}

/// A frame to deliver.
#[derive(Clone, Debug, PartialEq)]
pub struct Push {
    pub audience: Vec<Audience>,
    /// A user of the audience who must not get it (blocked the sender); for
    /// a message, their connections only advance past its seq.
    pub except: Option<Uuid>,
    pub frame: String,
    /// `(conversation_id, seq)` of a message frame, for the seq tracker.
    pub seq: Option<(String, i64)>,
}

/// An announcement for every connected socket of some platforms.
#[derive(Clone, Debug, PartialEq)]
pub struct Broadcast {
    /// Platform names; empty: every platform.
    pub platforms: Vec<String>,
    /// Delivered when this time comes (at once if it has).
    pub starts_at: time::OffsetDateTime,
    /// Not delivered once this has passed.
    pub ends_at: Option<time::OffsetDateTime>,
    pub frame: String,
}

/// What a node does with one event.
#[derive(Clone, Debug, PartialEq)]
pub enum Routed {
    Push(Push),
    Broadcast(Broadcast),
    /// Close the connections authenticated by this session.
    EndSession(Uuid),
    /// Several frames (e.g. a reply: one to the moment's author, another to the user replied to).
    Many(Vec<Routed>),
    /// A frame for a user's connections of one device (`except`: all but that device).
    Device { user: Uuid, device_id: String, except: bool, frame: String },
    Nothing,
}

/// The frames of a call's lifecycle (docs/services.md, "Calls").
fn call_frames(event: CallEvent) -> Routed {
    let parties = |call| vec![Audience::CallParties(call)];
    match event {
        CallEvent::CallStarted(e) => push(
            e.invitees.iter().map(|u| Audience::User(*u)).collect(),
            ServerFrame::CallIncoming,
            json!({ "call_id": e.call_id, "conversation_id": e.conversation_id, "caller_id": e.caller_id, "media": e.media,
                    "invitees": e.invitees, "ring_timeout_secs": e.ring_timeout_secs }),
        ),
        CallEvent::CallInvited(e) => push(
            e.user_ids.iter().map(|u| Audience::User(*u)).collect(),
            ServerFrame::CallIncoming,
            json!({ "call_id": e.call_id, "conversation_id": e.conversation_id, "caller_id": e.caller_id, "media": e.media,
                    "invitees": e.user_ids, "ring_timeout_secs": e.ring_timeout_secs }),
        ),
        CallEvent::CallAccepted(e) => Routed::Many(vec![
            push(parties(e.call_id), ServerFrame::CallAccepted, json!({ "call_id": e.call_id, "user_id": e.user_id, "device_id": e.device_id })),
            Routed::Device {
                user: e.user_id,
                device_id: e.device_id,
                except: true,
                frame: frame(ServerFrame::CallAnsweredElsewhere, json!({ "call_id": e.call_id }), None),
            },
        ]),
        CallEvent::CallJoined(e) => push(parties(e.call_id), ServerFrame::CallJoined, json!({ "call_id": e.call_id, "user_id": e.user_id })),
        CallEvent::CallDeclined(e) => push(parties(e.call_id), ServerFrame::CallDeclined, json!({ "call_id": e.call_id, "user_id": e.user_id })),
        CallEvent::CallLeft(e) => push(parties(e.call_id), ServerFrame::CallLeft, json!({ "call_id": e.call_id, "user_id": e.user_id })),
        CallEvent::CallMissed(e) => Routed::Many(
            e.user_ids.iter().map(|u| push(parties(e.call_id), ServerFrame::CallMissed, json!({ "call_id": e.call_id, "user_id": u }))).collect(),
        ),
        CallEvent::CallCancelled(e) => push(parties(e.call_id), ServerFrame::CallCancelled, json!({ "call_id": e.call_id })),
        CallEvent::CallEnded(e) => push(parties(e.call_id), ServerFrame::CallEnded, json!({ "call_id": e.call_id, "result": e.result, "duration_ms": e.duration_ms })),
    }
}

fn push(audience: Vec<Audience>, kind: ServerFrame, data: Value) -> Routed {
    Routed::Push(Push { audience, except: None, frame: frame(kind, data, None), seq: None })
}

/// `{"event": <event_type>, …payload}` of a social frame.
fn tagged(event_type: &str, payload: Value) -> Value {
    let mut data = json!({ "event": event_type });
    if let Value::Object(fields) = payload {
        for (k, v) in fields {
            if k != "type" {
                data[k] = v;
            }
        }
    }
    data
}

/// The `message` frame's data: an entry of `GET /api/chat/messages`, with
/// the sender's `client_msg_id`.
pub fn message_data(m: &beaver_events::sequenced::MessageSequenced) -> Value {
    // Stored with microseconds: print what the history endpoint prints.
    let at = m.sent_at.to_offset(time::UtcOffset::UTC);
    let at = beaver_events::stored_precision(at);
    json!(Message {
        message_id: m.message_id.to_string(),
        conversation_id: m.conversation_id.clone(),
        seq: m.seq,
        sender_id: m.sender_id.to_string(),
        kind: m.kind.clone(),
        content: m.content.clone(),
        mentions: m.mentions.iter().map(Uuid::to_string).collect(),
        reply_to: m.reply_to.map(|r| r.to_string()),
        sent_at: beaver_readmodel::rfc3339(time::PrimitiveDateTime::new(at.date(), at.time())),
        edited_at: None,
        recalled: false,
        reactions: Default::default(),
        my_reactions: vec![],
        client_msg_id: Some(m.client_msg_id.clone()),
    })
}

/// Routes one record of `topic`. Undecodable records route nowhere.
pub fn route(topic: &str, env: RawEnvelope) -> Routed {
    let event_type = env.event_type.clone();
    let occurred_at = env.occurred_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    match topic {
        topics::SEQUENCED if event_type == "MessageSequenced" => match env.decode::<SequencedEvent>().map(|e| e.payload) {
            Ok(SequencedEvent::MessageSequenced(m)) => match ConversationRef::parse(&m.conversation_id) {
                Some(conversation) => Routed::Push(Push {
                    audience: vec![Audience::Conversation(conversation)],
                    except: m.hidden_from,
                    frame: frame(ServerFrame::Message, message_data(&m), None),
                    seq: Some((m.conversation_id.clone(), m.seq)),
                }),
                None => Routed::Nothing,
            },
            Err(_) => Routed::Nothing,
        },
        // The other conversation events, passed through by the sequencer in log order.
        topics::SEQUENCED => {
            let Ok(event) = env.decode::<MessageEvent>().map(|e| e.payload) else { return Routed::Nothing };
            let Some(conversation) = ConversationRef::parse(event.conversation_id()) else { return Routed::Nothing };
            let everyone = vec![Audience::Conversation(conversation)];
            let data = serde_json::to_value(&event).map(|v| tagged("", v)).unwrap_or_default();
            let mut data = data;
            if let Value::Object(m) = &mut data {
                m.remove("event");
                // Whether a read tells the peer decides who gets the frame; it is not news to anyone.
                m.remove("receipt");
            }
            match &event {
                MessageEvent::MessageSent(_) => Routed::Nothing, // only ever delivered numbered, as MessageSequenced
                MessageEvent::MessageRecalled(_) => push(everyone, ServerFrame::MessageRecalled, data),
                MessageEvent::MessageEdited(_) => push(everyone, ServerFrame::MessageEdited, data),
                MessageEvent::MessageReactionAdded(_) => push(everyone, ServerFrame::ReactionAdded, data),
                MessageEvent::MessageReactionRemoved(_) => push(everyone, ServerFrame::ReactionRemoved, data),
                MessageEvent::MessageDeletedForUser(e) => push(vec![Audience::User(e.user_id)], ServerFrame::MessageDeleted, data),
                MessageEvent::ConversationCleared(e) => push(vec![Audience::User(e.user_id)], ServerFrame::ConversationCleared, data),
                MessageEvent::ConversationSettingsChanged(e) => push(vec![Audience::User(e.user_id)], ServerFrame::ConversationSettings, data),
                MessageEvent::ConversationRead(e) => match conversation {
                    // A read receipt for the peer, unless the reader turned receipts off.
                    ConversationRef::Direct(..) if e.receipt => push(everyone, ServerFrame::ConversationRead, data),
                    ConversationRef::Direct(..) => push(vec![Audience::User(e.user_id)], ServerFrame::ConversationRead, data),
                    ConversationRef::Group(_) => push(vec![Audience::User(e.user_id)], ServerFrame::ConversationRead, data),
                },
            }
        }
        topics::RELATIONS => {
            let Ok(event) = env.decode::<RelationEvent>().map(|e| e.payload) else { return Routed::Nothing };
            let mut data = tagged(&event_type, serde_json::to_value(&event).unwrap_or_default());
            if let Value::Object(fields) = &mut data {
                // Whether the recipient blocked the sender is not the sender's to know.
                fields.remove("hidden_from_recipient");
            }
            let (audience, except) = match &event {
                RelationEvent::FriendRequestSent(e) => {
                    (vec![Audience::User(e.from_user_id), Audience::User(e.to_user_id)], e.hidden_from_recipient.then_some(e.to_user_id))
                }
                RelationEvent::FriendRequestAccepted(e) | RelationEvent::FriendRequestRejected(e) => {
                    (vec![Audience::User(e.from_user_id), Audience::User(e.to_user_id)], None)
                }
                RelationEvent::FriendRemoved(e) => (vec![Audience::User(e.user_id)], None),
                RelationEvent::FriendRemarkSet(e) => (vec![Audience::User(e.user_id)], None),
                RelationEvent::UserBlocked(e) | RelationEvent::UserUnblocked(e) => (vec![Audience::User(e.user_id)], None),
            };
            Routed::Push(Push { audience, except, frame: frame(ServerFrame::Friend, data, None), seq: None })
        }
        topics::GROUPS => {
            let Ok(event) = env.decode::<GroupEvent>().map(|e| e.payload) else { return Routed::Nothing };
            let data = tagged(&event_type, serde_json::to_value(&event).unwrap_or_default());
            let members = |g: Uuid| Audience::Conversation(ConversationRef::Group(g));
            let audience = match &event {
                GroupEvent::GroupCreated(e) => {
                    let mut a = vec![Audience::User(e.owner_id)];
                    a.extend(e.member_ids.iter().map(|u| Audience::User(*u)));
                    a
                }
                GroupEvent::GroupMembersAdded(e) => {
                    let mut a = vec![members(e.group_id)];
                    a.extend(e.user_ids.iter().map(|u| Audience::User(*u)));
                    a
                }
                GroupEvent::GroupMemberLeft(e) | GroupEvent::GroupMemberKicked(e) => vec![members(e.group_id), Audience::User(e.user_id)],
                GroupEvent::GroupJoinRequested(e) => vec![Audience::GroupAdmins(e.group_id), Audience::User(e.user_id)],
                GroupEvent::GroupJoinRequestApproved(e) | GroupEvent::GroupJoinRequestRejected(e) => {
                    vec![Audience::GroupAdmins(e.group_id), Audience::User(e.user_id)]
                }
                GroupEvent::GroupUpdated(e) => vec![members(e.group_id)],
                GroupEvent::GroupDissolved(e) => vec![members(e.group_id), Audience::User(e.by)],
                GroupEvent::GroupMemberRoleChanged(e) => vec![members(e.group_id), Audience::User(e.user_id)],
                GroupEvent::GroupOwnershipTransferred(e) => vec![members(e.group_id)],
                GroupEvent::GroupMemberMuted(e) => vec![members(e.group_id), Audience::User(e.user_id)],
                GroupEvent::GroupMuteAllChanged(e) => vec![members(e.group_id)],
                GroupEvent::GroupMemberNicknameSet(e) => vec![members(e.group_id)],
            };
            push(audience, ServerFrame::Group, data)
        }
        // A user's own favourites and collections, to their own devices.
        topics::EMOJI => match env.decode::<EmojiEvent>().map(|e| e.payload) {
            Ok(event @ (EmojiEvent::EmojiFavorited(_) | EmojiEvent::EmojiUnfavorited(_) | EmojiEvent::EmojiPackCollected(_) | EmojiEvent::EmojiPackUncollected(_))) => {
                let user = match &event {
                    EmojiEvent::EmojiFavorited(e) => e.user_id,
                    EmojiEvent::EmojiUnfavorited(e) => e.user_id,
                    EmojiEvent::EmojiPackCollected(e) | EmojiEvent::EmojiPackUncollected(e) => e.user_id,
                    _ => unreachable!(),
                };
                push(vec![Audience::User(user)], ServerFrame::EmojiChanged, tagged(&event_type, serde_json::to_value(&event).unwrap_or_default()))
            }
            _ => Routed::Nothing,
        },
        // A new inbox item, to its recipient's devices (the badge follows
        // once it is projected: see `tail::badge`).
        topics::NOTIFICATIONS => match env.decode::<NotificationEvent>().map(|e| e.payload) {
            Ok(NotificationEvent::NotificationCreated(n)) => push(
                vec![Audience::User(n.user_id)],
                ServerFrame::Notification,
                json!({
                    "notification_id": n.notification_id,
                    "category": n.category,
                    "kind": n.kind,
                    "actor_id": n.actor_id,
                    "target": n.target,
                    "text": n.text,
                    "group_key": n.group_key,
                    "created_at": occurred_at,
                }),
            ),
            _ => Routed::Nothing,
        },
        topics::MOMENTS => match env.decode::<MomentEvent>().map(|e| e.payload) {
            Ok(MomentEvent::MomentPosted(m)) => push(
                vec![Audience::MomentAudience { author: m.author_id, visibility: m.visibility, users: m.users }],
                ServerFrame::MomentNew,
                json!({ "moment_id": m.moment_id, "author_id": m.author_id }),
            ),
            Ok(MomentEvent::MomentLiked(e)) if e.user_id != e.author_id => push(
                vec![Audience::MomentViewer { user: e.author_id, moment: e.moment_id }],
                ServerFrame::MomentActivity,
                json!({ "moment_id": e.moment_id, "kind": "like", "user_id": e.user_id, "comment_id": null, "text": null }),
            ),
            Ok(MomentEvent::MomentCommented(e)) => {
                let activity = |to: Uuid, kind: &str| {
                    push(
                        vec![Audience::MomentViewer { user: to, moment: e.moment_id }],
                        ServerFrame::MomentActivity,
                        json!({ "moment_id": e.moment_id, "kind": kind, "user_id": e.user_id, "comment_id": e.comment_id, "text": e.text }),
                    )
                };
                let mut out = Vec::new();
                if e.user_id != e.author_id {
                    out.push(activity(e.author_id, if e.reply_to_user_id == Some(e.author_id) { "reply" } else { "comment" }));
                }
                if let Some(to) = e.reply_to_user_id.filter(|to| *to != e.user_id && *to != e.author_id) {
                    out.push(activity(to, "reply"));
                }
                Routed::Many(out)
            }
            _ => Routed::Nothing,
        },
        topics::CALLS => match env.decode::<CallEvent>().map(|e| e.payload) {
            Ok(event) => call_frames(event),
            Err(_) => Routed::Nothing,
        },
        topics::FEEDBACK => match env.decode::<FeedbackEvent>().map(|e| e.payload) {
            Ok(FeedbackEvent::FeedbackStatusChanged(e)) => push(
                vec![Audience::User(e.user_id)],
                ServerFrame::FeedbackUpdated,
                json!({ "feedback_id": e.feedback_id, "status": e.status, "reply": e.reply }),
            ),
            _ => Routed::Nothing,
        },
        topics::SYSTEM => match env.decode::<SystemEvent>().map(|e| e.payload) {
            Ok(SystemEvent::SystemAnnouncementPublished(a)) => {
                let text = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                let data = json!({
                    "announcement_id": a.announcement_id,
                    "title": a.title,
                    "body": a.body,
                    "starts_at": text(a.starts_at),
                    "ends_at": a.ends_at.map(text),
                });
                Routed::Broadcast(Broadcast { platforms: a.platforms, starts_at: a.starts_at, ends_at: a.ends_at, frame: frame(ServerFrame::SystemAnnouncement, data, None) })
            }
            _ => Routed::Nothing,
        },
        topics::SESSIONS => match env.decode::<SessionEvent>().map(|e| e.payload) {
            Ok(SessionEvent::SessionEnded(e)) => Routed::EndSession(e.session_id),
            _ => Routed::Nothing,
        },
        _ => Routed::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beaver_events::{message::*, relation::*, sequenced::MessageSequenced, Actor, DomainEvent, Envelope};

    fn raw<E: DomainEvent>(e: E) -> RawEnvelope {
        let bytes = serde_json::to_vec(&Envelope::new(e, Actor::System, "c", None)).unwrap();
        RawEnvelope::from_slice(&bytes).unwrap()
    }

    fn data_of(frame: &str) -> (String, Value) {
        let v: Value = serde_json::from_str(frame).unwrap();
        (v["type"].as_str().unwrap().to_owned(), v["data"].clone())
    }

    #[test]
    fn a_sequenced_message_goes_to_its_conversation_with_its_seq_except_a_blocker() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let conversation_id = direct_conversation_id(a, b);
        let m = MessageSequenced {
            message_id: Uuid::now_v7(),
            conversation_id: conversation_id.clone(),
            seq: 4,
            client_msg_id: "c1".into(),
            sender_id: a,
            kind: "text".into(),
            content: json!({ "text": "hi" }),
            mentions: vec![],
            reply_to: None,
            hidden_from: Some(b),
            sent_at: time::macros::datetime!(2026-11-24 10:00:00.123456789 UTC),
        };
        let Routed::Push(p) = route(topics::SEQUENCED, raw(SequencedEvent::MessageSequenced(m))) else { panic!("not pushed") };
        assert_eq!(p.audience, vec![Audience::Conversation(ConversationRef::parse(&conversation_id).unwrap())]);
        assert_eq!(p.except, Some(b));
        assert_eq!(p.seq, Some((conversation_id.clone(), 4)));
        let (kind, data) = data_of(&p.frame);
        assert_eq!(kind, "message");
        assert_eq!(data["seq"], 4);
        assert_eq!(data["type"], "text");
        assert_eq!(data["content"]["text"], "hi");
        assert_eq!(data["sent_at"], "2026-11-24T10:00:00.123456Z");
    }

    #[test]
    fn an_unsequenced_message_sent_is_never_pushed() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let sent = MessageEvent::MessageSent(MessageSent {
            message_id: Uuid::now_v7(),
            conversation_id: direct_conversation_id(a, b),
            client_msg_id: "c".into(),
            sender_id: a,
            kind: "text".into(),
            content: json!({ "text": "x" }),
            mentions: vec![],
            reply_to: None,
            hidden_from: None,
        });
        assert_eq!(route(topics::SEQUENCED, raw(sent)), Routed::Nothing);
    }

    #[test]
    fn personal_message_operations_go_to_the_acting_user_only() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let conversation_id = direct_conversation_id(a, b);
        let cleared = MessageEvent::ConversationCleared(ConversationCleared { conversation_id: conversation_id.clone(), user_id: a, up_to_seq: 3 });
        let Routed::Push(p) = route(topics::SEQUENCED, raw(cleared)) else { panic!() };
        assert_eq!(p.audience, vec![Audience::User(a)]);
        let (kind, data) = data_of(&p.frame);
        assert_eq!((kind.as_str(), data["up_to_seq"].as_i64()), ("conversation.cleared", Some(3)));
        assert!(data.get("type").is_none());
        // A 1:1 read receipt reaches the peer.
        let read = MessageEvent::ConversationRead(ConversationRead { conversation_id: conversation_id.clone(), user_id: a, seq: 3, receipt: true });
        let Routed::Push(p) = route(topics::SEQUENCED, raw(read)) else { panic!() };
        assert_eq!(p.audience, vec![Audience::Conversation(ConversationRef::Direct(a.min(b), a.max(b)))]);
        // Without a receipt, only the reader's own devices hear of it.
        let quiet = MessageEvent::ConversationRead(ConversationRead { conversation_id: conversation_id.clone(), user_id: a, seq: 4, receipt: false });
        let Routed::Push(p) = route(topics::SEQUENCED, raw(quiet)) else { panic!() };
        assert_eq!(p.audience, vec![Audience::User(a)]);
    }

    #[test]
    fn a_hidden_friend_request_reaches_only_its_sender() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let sent = RelationEvent::FriendRequestSent(FriendRequestSent {
            request_id: Uuid::now_v7(),
            from_user_id: a,
            to_user_id: b,
            message: "hi".into(),
            hidden_from_recipient: true,
        });
        let Routed::Push(p) = route(topics::RELATIONS, raw(sent)) else { panic!() };
        assert_eq!(p.except, Some(b));
        let (kind, data) = data_of(&p.frame);
        assert_eq!((kind.as_str(), data["event"].as_str()), ("friend", Some("FriendRequestSent")));
        assert_eq!(data["message"], "hi");
        assert!(data.get("hidden_from_recipient").is_none(), "the frame must not reveal the block");
    }

    #[test]
    fn a_reply_tells_the_author_and_the_user_replied_to_and_a_like_of_ones_own_moment_nobody() {
        use beaver_events::moment::*;
        let (author, f, g, moment_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let reply = MomentEvent::MomentCommented(MomentCommented {
            moment_id,
            author_id: author,
            comment_id: Uuid::now_v7(),
            user_id: f,
            text: "yes".into(),
            reply_to: Some(Uuid::now_v7()),
            reply_to_user_id: Some(g),
        });
        let Routed::Many(frames) = route(topics::MOMENTS, raw(reply)) else { panic!() };
        let sent: Vec<(Vec<Audience>, String)> = frames
            .into_iter()
            .map(|r| match r {
                Routed::Push(p) => (p.audience, data_of(&p.frame).1["kind"].as_str().unwrap().to_owned()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            sent,
            vec![
                (vec![Audience::MomentViewer { user: author, moment: moment_id }], "comment".to_owned()),
                (vec![Audience::MomentViewer { user: g, moment: moment_id }], "reply".to_owned()),
            ]
        );
        let own = MomentEvent::MomentLiked(MomentLike { moment_id, author_id: author, user_id: author });
        assert_eq!(route(topics::MOMENTS, raw(own)), Routed::Nothing);
        let posted = MomentEvent::MomentPosted(MomentPosted { moment_id, author_id: author, text: "t".into(), media: vec![], visibility: Visibility::Selected, users: vec![f] });
        let Routed::Push(p) = route(topics::MOMENTS, raw(posted)) else { panic!() };
        assert_eq!(p.audience, vec![Audience::MomentAudience { author, visibility: Visibility::Selected, users: vec![f] }]);
    }

    #[test]
    fn a_call_rings_its_invitees_and_an_accept_tells_the_parties_and_the_accepters_other_devices() {
        use beaver_events::call::*;
        let (caller, callee, call_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let started = CallEvent::CallStarted(CallStarted {
            call_id,
            conversation_id: "direct:x".into(),
            caller_id: caller,
            caller_device_id: "a".into(),
            media: Media::Video,
            invitees: vec![callee],
            ring_timeout_secs: 30,
        });
        let Routed::Push(p) = route(topics::CALLS, raw(started)) else { panic!() };
        assert_eq!(p.audience, vec![Audience::User(callee)], "the caller is not rung");
        assert_eq!(data_of(&p.frame).0, "call.incoming");
        let accepted = CallEvent::CallAccepted(CallDevice { call_id, user_id: callee, device_id: "tab".into() });
        let Routed::Many(frames) = route(topics::CALLS, raw(accepted)) else { panic!() };
        let Routed::Push(p) = &frames[0] else { panic!() };
        assert_eq!((p.audience.clone(), data_of(&p.frame).0), (vec![Audience::CallParties(call_id)], "call.accepted".to_owned()));
        let Routed::Device { user, device_id, except, frame } = &frames[1] else { panic!() };
        assert_eq!((*user, device_id.as_str(), *except, data_of(frame).0), (callee, "tab", true, "call.answered_elsewhere".to_owned()));
    }

    #[test]
    fn an_inbox_item_reaches_only_its_recipient_and_a_read_makes_no_frame() {
        use beaver_events::notification::*;
        let (user, actor, group) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let item = NotificationEvent::NotificationCreated(NotificationCreated {
            notification_id: Uuid::now_v7(),
            user_id: user,
            category: Category::Group,
            kind: "join_request".into(),
            actor_id: actor,
            target: Target { kind: "group".into(), id: group },
            text: "hi".into(),
            source_event_id: Uuid::now_v7(),
            group_key: Some(format!("join_request:{group}")),
        });
        let Routed::Push(p) = route(topics::NOTIFICATIONS, raw(item)) else { panic!() };
        assert_eq!(p.audience, vec![Audience::User(user)]);
        let (kind, data) = data_of(&p.frame);
        assert_eq!(kind, "notification");
        assert_eq!((data["actor_id"].as_str(), data["category"].as_str(), data["target"]["id"].as_str()), (Some(&actor.to_string()[..]), Some("group"), Some(&group.to_string()[..])));
        let read = NotificationEvent::NotificationsRead(NotificationsRead { user_id: user, all: true, category: None, up_to: None, ids: vec![] });
        assert_eq!(route(topics::NOTIFICATIONS, raw(read)), Routed::Nothing);
    }

    #[test]
    fn a_feedback_answer_reaches_only_its_submitter_and_a_submission_nobody() {
        use beaver_events::feedback::*;
        let (user, feedback_id) = (Uuid::now_v7(), Uuid::now_v7());
        let changed = FeedbackEvent::FeedbackStatusChanged(FeedbackStatusChanged { feedback_id, user_id: user, status: Status::Resolved, reply: Some("fixed".into()) });
        let Routed::Push(p) = route(topics::FEEDBACK, raw(changed)) else { panic!() };
        assert_eq!(p.audience, vec![Audience::User(user)]);
        let (kind, data) = data_of(&p.frame);
        assert_eq!(kind, "feedback.updated");
        assert_eq!(data, json!({ "feedback_id": feedback_id, "status": "resolved", "reply": "fixed" }));
        let submitted = FeedbackEvent::FeedbackSubmitted(FeedbackSubmitted {
            feedback_id,
            user_id: user,
            category: Category::Bug,
            text: "x".into(),
            target: None,
            client: None,
            client_feedback_id: None,
        });
        assert_eq!(route(topics::FEEDBACK, raw(submitted)), Routed::Nothing);
    }

    #[test]
    fn an_announcement_is_broadcast_with_its_platforms_and_times() {
        use beaver_events::system::*;
        let starts_at = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let a = SystemEvent::SystemAnnouncementPublished(SystemAnnouncementPublished {
            announcement_id: Uuid::now_v7(),
            title: "t".into(),
            body: "b".into(),
            platforms: vec!["ios".into()],
            starts_at,
            ends_at: None,
            inbox: false,
        });
        let Routed::Broadcast(b) = route(topics::SYSTEM, raw(a)) else { panic!() };
        assert_eq!((b.platforms, b.starts_at, b.ends_at), (vec!["ios".to_owned()], starts_at, None));
        let (kind, data) = data_of(&b.frame);
        assert_eq!((kind.as_str(), data["title"].as_str(), data["ends_at"].is_null()), ("system.announcement", Some("t"), true));
    }
}
