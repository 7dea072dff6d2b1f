//! Every event type has a JSON Schema under `schemas/events/`, and a sample of
//! every event type, serialised as it goes on the wire, validates against it.

use beaver_events::{
    group::*,
    message::*,
    relation::*,
    sequenced::{MessageSequenced, SequencedEvent},
    session::{SessionEndReason, SessionEnded, SessionRefreshed, SessionStarted},
    upcast::current_version,
    user::{Gender, UserProfileUpdated, UserRegistered},
    track::{ClientEventTracked, TrackEvent},
    emoji::*,
    feedback::*,
    files::*,
    system::*,
    notification::{notification_id, push_job_id, NotificationCreated, NotificationDeleted, NotificationsRead, PushJobQueued, PushPlatform, PushTarget, PushTokenRegistered, PushTokenRevoked},
    Actor, DomainEvent, EmojiEvent, NotificationEvent, PushEvent, Envelope, FeedbackEvent, FileEvent, SystemEvent, GroupEvent, MessageEvent, RelationEvent, SessionEvent, UserEvent,
};
use std::{collections::BTreeSet, path::PathBuf};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/events")
}

/// One sample of every event type, wrapped and serialised as the producer does.
fn samples() -> Vec<(String, u32, serde_json::Value)> {
    let user = Uuid::now_v7();
    let session = Uuid::now_v7();
    let hash = "ab".repeat(32);
    let later = OffsetDateTime::now_utc() + Duration::days(30);
    let wire = |env: serde_json::Value| {
        (env["event_type"].as_str().unwrap().to_owned(), env["schema_version"].as_u64().unwrap() as u32, env)
    };
    fn wrap<E: DomainEvent>(e: E, actor: Actor) -> serde_json::Value {
        serde_json::to_value(Envelope::new(e, actor, "corr", Some(Uuid::now_v7()))).unwrap()
    }
    vec![
        wire(wrap(
            UserEvent::UserRegistered(UserRegistered {
                user_id: user,
                username: "grace_h".into(),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
                nickname: "Grace".into(),
                email: Some("grace@example.org".into()),
                phone: None,
            }),
            Actor::User(user),
        )),
        wire(wrap(
            UserEvent::UserSettingsChanged(beaver_events::user::UserSettingsChanged {
                user_id: user,
                settings: {
                    let mut s = beaver_events::user::Settings::default();
                    s.privacy.show_online = false;
                    s.notifications.do_not_disturb.time_zone = "Europe/Berlin".into();
                    s.client.insert("theme".into(), serde_json::json!("dark"));
                    s
                },
            }),
            Actor::User(user),
        )),
        wire(wrap(
            UserEvent::UserProfileUpdated(UserProfileUpdated {
                user_id: user,
                nickname: Some("G".into()),
                gender: Some(Gender::Female),
                ..Default::default()
            }),
            Actor::User(user),
        )),
        wire(wrap(
            SessionEvent::SessionStarted(SessionStarted {
                session_id: session,
                user_id: user,
                refresh_token_hash: hash.clone(),
                refresh_expires_at: later,
            }),
            Actor::User(user),
        )),
        wire(wrap(
            SessionEvent::SessionRefreshed(SessionRefreshed {
                session_id: session,
                user_id: user,
                generation: 1,
                spent_token_hash: hash.clone(),
                refresh_token_hash: "cd".repeat(32),
                refresh_expires_at: later,
            }),
            Actor::User(user),
        )),
        wire(wrap(
            SessionEvent::SessionEnded(SessionEnded {
                session_id: session,
                user_id: user,
                reason: SessionEndReason::RefreshTokenReused,
            }),
            Actor::System,
        )),
    ]
    .into_iter()
    .chain(relation_samples(user).into_iter().map(|e| wire(wrap(e, Actor::User(user)))))
    .chain(group_samples(user).into_iter().map(|e| wire(wrap(e, Actor::User(user)))))
    .chain(message_samples(user).into_iter().map(|e| wire(wrap(e, Actor::User(user)))))
    .chain(std::iter::once(wire(wrap(sequenced_sample(user), Actor::System))))
    .chain([true, false].map(|signed_in| {
        let tracked = TrackEvent::ClientEventTracked(ClientEventTracked {
            device_id: "dev-1".into(),
            user_id: signed_in.then_some(user),
            platform: "ios".into(),
            app_version: signed_in.then(|| "1.2.3".into()),
            name: "chat.send_tapped".into(),
            client_ts: OffsetDateTime::now_utc(),
            client_ts_clamped: !signed_in,
            props: serde_json::json!({ "screen": "chat", "ms": 12.5, "ok": true }).as_object().unwrap().clone(),
            client_event_id: None,
        });
        wire(wrap(tracked, if signed_in { Actor::User(user) } else { Actor::System }))
    }))
    .chain(feedback_samples(user).into_iter().map(|(e, actor)| wire(wrap(e, actor))))
    .chain(system_samples().into_iter().map(|e| wire(wrap(e, Actor::Operator("ada".into())))))
    .chain(file_samples(user).into_iter().map(|(e, actor)| wire(wrap(e, actor))))
    .chain(emoji_samples(user).into_iter().map(|e| wire(wrap(e, Actor::User(user)))))
    .chain(official_emoji_samples(user).into_iter().map(|e| wire(wrap(e, Actor::Operator("ada".into())))))
    .chain(std::iter::once(wire(wrap(official_file_sample(), Actor::Operator("ada".into())))))
    .chain(notification_samples(user).into_iter().map(|(e, actor)| wire(wrap(e, actor))))
    .chain(std::iter::once(wire(wrap(push_sample(user), Actor::System))))
    .chain(moment_samples(user).into_iter().map(|e| wire(wrap(e, Actor::User(user)))))
    .chain(call_samples(user).into_iter().map(|(e, actor)| wire(wrap(e, actor))))
    .collect()
}

fn notification_samples(user: Uuid) -> Vec<(NotificationEvent, Actor)> {
    let (source, peer) = (Uuid::now_v7(), Uuid::now_v7());
    let id = notification_id(source, user);
    vec![
        (
            NotificationEvent::NotificationCreated(NotificationCreated {
                notification_id: id,
                user_id: user,
                category: beaver_events::notification::Category::Group,
                kind: "join_request".into(),
                actor_id: peer,
                target: beaver_events::notification::Target { kind: "group".into(), id: Uuid::now_v7() },
                text: "let me in".into(),
                source_event_id: source,
                group_key: Some("join_request:x".into()),
            }),
            Actor::System,
        ),
        (NotificationEvent::NotificationsRead(NotificationsRead { user_id: user, all: false, category: Some(beaver_events::notification::Category::Social), up_to: None, ids: vec![] }), Actor::User(user)),
        // every category can be read on its own (moment and call came later)
        (NotificationEvent::NotificationsRead(NotificationsRead { user_id: user, all: false, category: Some(beaver_events::notification::Category::Call), up_to: None, ids: vec![] }), Actor::User(user)),
        (NotificationEvent::NotificationsRead(NotificationsRead { user_id: user, all: false, category: Some(beaver_events::notification::Category::Moment), up_to: None, ids: vec![] }), Actor::User(user)),
        (NotificationEvent::NotificationsRead(NotificationsRead { user_id: user, all: false, category: None, up_to: Some(7), ids: vec![id] }), Actor::User(user)),
        (NotificationEvent::NotificationDeleted(NotificationDeleted { user_id: user, notification_id: id }), Actor::User(user)),
        (
            NotificationEvent::PushTokenRegistered(PushTokenRegistered {
                user_id: user,
                session_id: Uuid::now_v7(),
                device_id: "phone-1".into(),
                platform: PushPlatform::Apns,
                token: "f00d".into(),
            }),
            Actor::User(user),
        ),
        (NotificationEvent::PushTokenRevoked(PushTokenRevoked { user_id: user, device_id: "phone-1".into() }), Actor::User(user)),
    ]
}

fn call_samples(user: Uuid) -> Vec<(beaver_events::CallEvent, Actor)> {
    use beaver_events::call::*;
    let (call_id, peer) = (Uuid::now_v7(), Uuid::now_v7());
    let me = Actor::User(user);
    vec![
        (
            CallEvent::CallStarted(CallStarted {
                call_id,
                conversation_id: format!("direct:{user}:{peer}"),
                caller_id: user,
                caller_device_id: "phone-1".into(),
                media: Media::Video,
                invitees: vec![peer],
                ring_timeout_secs: 30,
            }),
            me.clone(),
        ),
        (CallEvent::CallAccepted(CallDevice { call_id, user_id: peer, device_id: "tab".into() }), Actor::User(peer)),
        (CallEvent::CallJoined(CallDevice { call_id, user_id: peer, device_id: "tab".into() }), Actor::User(peer)),
        (CallEvent::CallDeclined(CallUser { call_id, user_id: peer }), Actor::User(peer)),
        (CallEvent::CallLeft(CallUser { call_id, user_id: user }), me.clone()),
        // the sweeper hangs up for a device gone past its reconnect grace
        (CallEvent::CallLeft(CallUser { call_id, user_id: peer }), Actor::System),
        (CallEvent::CallMissed(CallMissed { call_id, user_ids: vec![peer] }), Actor::System),
        (CallEvent::CallCancelled(CallCancelled { call_id, by: user }), me.clone()),
        (CallEvent::CallInvited(CallInvited {
                call_id,
                by: user,
                user_ids: vec![peer],
                conversation_id: format!("group:{}", Uuid::now_v7()),
                caller_id: user,
                media: Media::Audio,
                ring_timeout_secs: 30,
            }), me.clone()),
        (CallEvent::CallEnded(CallEnded { call_id, result: CallResult::Completed, duration_ms: 61_000 }), me),
        (CallEvent::CallEnded(CallEnded { call_id, result: CallResult::Missed, duration_ms: 0 }), Actor::System),
    ]
}

fn moment_samples(user: Uuid) -> Vec<beaver_events::MomentEvent> {
    use beaver_events::moment::*;
    let (moment_id, friend, comment_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let like = MomentLike { moment_id, author_id: user, user_id: friend };
    vec![
        MomentEvent::MomentPosted(MomentPosted {
            moment_id,
            author_id: user,
            text: "sunset".into(),
            media: vec![Media { file_id: Uuid::now_v7(), kind: "image".into(), width: Some(640), height: None }],
            visibility: Visibility::Except,
            users: vec![friend],
        }),
        MomentEvent::MomentLiked(like.clone()),
        MomentEvent::MomentUnliked(like),
        MomentEvent::MomentCommented(MomentCommented {
            moment_id,
            author_id: user,
            comment_id,
            user_id: friend,
            text: "nice".into(),
            reply_to: Some(Uuid::now_v7()),
            reply_to_user_id: Some(user),
        }),
        MomentEvent::MomentCommentDeleted(MomentCommentDeleted { moment_id, comment_id, user_id: user }),
        MomentEvent::MomentDeleted(MomentDeleted { moment_id, author_id: user }),
    ]
}

fn push_sample(user: Uuid) -> PushEvent {
    let source = Uuid::now_v7();
    PushEvent::PushJobQueued(PushJobQueued {
        job_id: push_job_id(source, user),
        user_id: user,
        reason: "message".into(),
        source_event_id: source,
        tokens: vec![PushTarget { device_id: "phone-1".into(), platform: PushPlatform::Fcm, token: "t".into() }],
        title: "Ada".into(),
        body: "hello".into(),
        data: serde_json::json!({ "conversation_id": "direct:a:b", "seq": 3 }),
        badge: 4,
    })
}

fn feedback_samples(user: Uuid) -> Vec<(FeedbackEvent, Actor)> {
    let feedback_id = Uuid::now_v7();
    vec![
        (
            FeedbackEvent::FeedbackSubmitted(FeedbackSubmitted {
                feedback_id,
                user_id: user,
                category: Category::Report,
                text: "spam".into(),
                target: Some(Target { kind: TargetType::User, id: Uuid::now_v7() }),
                client: Some(ClientInfo { platform: "ios".into(), app_version: Some("2.1.0".into()) }),
                client_feedback_id: Some("fb-1".into()),
            }),
            Actor::User(user),
        ),
        (
            FeedbackEvent::FeedbackSubmitted(FeedbackSubmitted {
                feedback_id: Uuid::now_v7(),
                user_id: user,
                category: Category::Bug,
                text: "it crashed".into(),
                target: None,
                client: None,
                client_feedback_id: None,
            }),
            Actor::User(user),
        ),
        (
            FeedbackEvent::FeedbackStatusChanged(FeedbackStatusChanged { feedback_id, user_id: user, status: Status::Resolved, reply: Some("thanks".into()) }),
            Actor::Operator("ada".into()),
        ),
    ]
}

fn file_samples(owner_id: Uuid) -> Vec<(FileEvent, Actor)> {
    let file_id = Uuid::new_v4();
    let hash = "0f".repeat(32);
    vec![
        (
            FileEvent::UploadInitiated(UploadInitiated {
                file_id,
                owner_id,
                name: "cat.png".into(),
                size: 9_000_000,
                purpose: Purpose::Chat,
                part_size: 8_388_608,
                part_count: 2,
                expires_at: OffsetDateTime::now_utc() + Duration::days(1),
                content_hash: Some("0f".repeat(32)),
            }),
            Actor::User(owner_id),
        ),
        (FileEvent::UploadPartReceived(UploadPartReceived { file_id, owner_id, part_no: 1, size: 8_388_608, sha256: "ab".repeat(32) }), Actor::User(owner_id)),
        (
            FileEvent::FileStored(FileStored {
                file_id,
                owner_id,
                name: "cat.png".into(),
                size: 9_000_000,
                purpose: Purpose::Chat,
                mime: "image/png".into(),
                kind: "image".into(),
                content_hash: hash.clone(),
                blob_key: format!("blobs/0f/{hash}"),
                width: Some(640),
                height: Some(480),
                thumb_key: Some(format!("thumbs/{hash}_320.jpg")),
            }),
            Actor::User(owner_id),
        ),
        (FileEvent::UploadAborted(UploadAborted { file_id, owner_id, reason: AbortReason::Expired }), Actor::System),
        (FileEvent::FileDeleted(FileDeleted { file_id, owner_id }), Actor::User(owner_id)),
    ]
}

fn emoji_samples(user: Uuid) -> Vec<EmojiEvent> {
    let (emoji_id, file_id, pack_id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::now_v7());
    vec![
        EmojiEvent::EmojiFavorited(EmojiFavorited { user_id: user, emoji_id, file_id, title: "cat".into(), width: 64, height: 64 }),
        EmojiEvent::EmojiUnfavorited(EmojiUnfavorited { user_id: user, emoji_id }),
        EmojiEvent::EmojiPackCreated(EmojiPackCreated {
            pack_id,
            owner_id: user,
            title: "Cats".into(),
            description: String::new(),
            items: vec![PackItem { emoji_id, file_id, title: String::new(), width: 128, height: 96 }],
            official: false,
        }),
        EmojiEvent::EmojiPackDeleted(EmojiPackDeleted { pack_id, owner_id: user }),
        EmojiEvent::EmojiPackCollected(EmojiPackCollection { user_id: user, pack_id }),
        EmojiEvent::EmojiPackUncollected(EmojiPackCollection { user_id: user, pack_id }),
    ]
}

/// An official pack's events, as `beaver-admin emoji import` and `emoji delete` append them (actor the operator).
fn official_emoji_samples(collector: Uuid) -> Vec<EmojiEvent> {
    let (emoji_id, file_id, pack_id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    vec![
        EmojiEvent::EmojiPackCreated(EmojiPackCreated {
            pack_id,
            owner_id: OFFICIAL_OWNER,
            title: "Beaver classics".into(),
            description: "The app's own".into(),
            items: vec![PackItem { emoji_id, file_id, title: "wave".into(), width: 1024, height: 512 }],
            official: true,
        }),
        EmojiEvent::EmojiPackDeleted(EmojiPackDeleted { pack_id, owner_id: OFFICIAL_OWNER }),
        EmojiEvent::EmojiPackUncollected(EmojiPackCollection { user_id: collector, pack_id }),
    ]
}

/// An official pack's image, stored by an operator without an upload.
fn official_file_sample() -> FileEvent {
    let hash = "1e".repeat(32);
    FileEvent::FileStored(FileStored {
        file_id: Uuid::new_v4(),
        owner_id: OFFICIAL_OWNER,
        name: "wave.webp".into(),
        size: 40_000,
        purpose: Purpose::Emoji,
        mime: "image/webp".into(),
        kind: "image".into(),
        content_hash: hash.clone(),
        blob_key: format!("blobs/1e/{hash}"),
        width: Some(1024),
        height: Some(512),
        thumb_key: Some(format!("thumbs/{hash}_320.jpg")),
    })
}

fn system_samples() -> Vec<SystemEvent> {
    let (app_id, platform, version) = ("beaver.ios".to_owned(), "ios".to_owned(), "2.1.0".to_owned());
    vec![
        SystemEvent::AppVersionPublished(AppVersionPublished {
            app_id: app_id.clone(),
            platform: platform.clone(),
            version: version.clone(),
            url: "https://downloads.example/beaver-2.1.0.ipa".into(),
            sha256: "ab".repeat(32),
            size: 12_345_678,
            notes: Some("faster".into()),
            min_supported: Some("2.0.0".into()),
            rollout_percent: 10,
        }),
        SystemEvent::AppRolloutChanged(AppRolloutChanged { app_id: app_id.clone(), platform: platform.clone(), version: version.clone(), rollout_percent: 50 }),
        SystemEvent::AppVersionWithdrawn(AppVersionWithdrawn { app_id, platform, version }),
        SystemEvent::SystemAnnouncementPublished(SystemAnnouncementPublished {
            announcement_id: Uuid::now_v7(),
            title: "Maintenance".into(),
            body: "Tonight 02:00–02:30 UTC".into(),
            platforms: vec!["ios".into(), "web".into()],
            starts_at: OffsetDateTime::now_utc(),
            ends_at: Some(OffsetDateTime::now_utc() + Duration::hours(2)),
            inbox: true,
        }),
    ]
}

fn message_samples(user: Uuid) -> Vec<MessageEvent> {
    let peer = Uuid::now_v7();
    let conversation_id = direct_conversation_id(user, peer);
    let message_id = Uuid::now_v7();
    let reaction = MessageReaction { message_id, conversation_id: conversation_id.clone(), user_id: peer, emoji: "👍".into() };
    vec![
        MessageEvent::MessageSent(MessageSent {
            message_id,
            conversation_id: conversation_id.clone(),
            client_msg_id: "c-1".into(),
            sender_id: user,
            kind: "text".into(),
            content: serde_json::json!({ "text": "hello" }),
            mentions: vec![],
            reply_to: None,
            hidden_from: None,
        }),
        MessageEvent::MessageRecalled(MessageRecalled { message_id, conversation_id: conversation_id.clone(), by: user }),
        MessageEvent::MessageEdited(MessageEdited { message_id, conversation_id: conversation_id.clone(), by: user, content: serde_json::json!({ "text": "hello!" }) }),
        MessageEvent::MessageDeletedForUser(MessageDeletedForUser { message_id, conversation_id: conversation_id.clone(), user_id: peer }),
        MessageEvent::ConversationCleared(ConversationCleared { conversation_id: conversation_id.clone(), user_id: peer, up_to_seq: 7 }),
        MessageEvent::MessageReactionAdded(reaction.clone()),
        MessageEvent::MessageReactionRemoved(reaction),
        MessageEvent::ConversationRead(ConversationRead { conversation_id: conversation_id.clone(), user_id: peer, seq: 3, receipt: false }),
        MessageEvent::ConversationSettingsChanged(ConversationSettingsChanged { conversation_id, user_id: peer, pinned: Some(true), ..Default::default() }),
    ]
}

fn sequenced_sample(user: Uuid) -> SequencedEvent {
    let peer = Uuid::now_v7();
    SequencedEvent::MessageSequenced(MessageSequenced {
        message_id: Uuid::now_v7(),
        conversation_id: direct_conversation_id(user, peer),
        seq: 7,
        client_msg_id: "c-1".into(),
        sender_id: user,
        kind: "text".into(),
        content: serde_json::json!({ "text": "hi" }),
        mentions: vec![],
        reply_to: None,
        hidden_from: Some(peer),
        sent_at: OffsetDateTime::now_utc(),
    })
}

fn relation_samples(user: Uuid) -> Vec<RelationEvent> {
    let other = Uuid::now_v7();
    let request = Uuid::now_v7();
    let decided = FriendRequestDecided { request_id: request, from_user_id: other, to_user_id: user };
    let block = BlockChanged { user_id: user, blocked_user_id: other };
    vec![
        RelationEvent::FriendRequestSent(FriendRequestSent {
            request_id: request,
            from_user_id: other,
            to_user_id: user,
            message: "hi, it's Grace".into(),
            hidden_from_recipient: false,
        }),
        RelationEvent::FriendRequestAccepted(decided.clone()),
        RelationEvent::FriendRequestRejected(decided),
        RelationEvent::FriendRemoved(FriendRemoved { user_id: user, friend_id: other }),
        RelationEvent::FriendRemarkSet(FriendRemarkSet { user_id: user, friend_id: other, remark: "Amazing Grace".into() }),
        RelationEvent::UserBlocked(block.clone()),
        RelationEvent::UserUnblocked(block),
    ]
}

fn group_samples(owner: Uuid) -> Vec<GroupEvent> {
    let group_id = Uuid::now_v7();
    let member = Uuid::now_v7();
    let request_id = Uuid::now_v7();
    let removed = GroupMemberRemoved { group_id, by: owner, user_id: member };
    let decided = GroupJoinRequestDecided { group_id, request_id, user_id: member, by: owner };
    vec![
        GroupEvent::GroupCreated(GroupCreated {
            group_id,
            conversation_id: group_conversation_id(group_id),
            owner_id: owner,
            name: "Analytical Engine".into(),
            avatar: String::new(),
            announcement: "Welcome".into(),
            join_policy: JoinPolicy::Approval,
            members_can_invite: true,
            max_members: 2000,
            member_ids: vec![member],
        }),
        GroupEvent::GroupUpdated(GroupUpdated { group_id, by: owner, name: Some("Difference Engine".into()), join_policy: Some(JoinPolicy::Free), ..Default::default() }),
        GroupEvent::GroupDissolved(GroupDissolved { group_id, by: owner }),
        GroupEvent::GroupMembersAdded(GroupMembersAdded { group_id, by: owner, user_ids: vec![member], via: JoinedVia::Invited }),
        GroupEvent::GroupMemberLeft(removed.clone()),
        GroupEvent::GroupMemberKicked(removed),
        GroupEvent::GroupMemberRoleChanged(GroupMemberRoleChanged { group_id, by: owner, user_id: member, role: Role::Admin }),
        GroupEvent::GroupOwnershipTransferred(GroupOwnershipTransferred { group_id, from_user_id: owner, to_user_id: member }),
        GroupEvent::GroupMemberMuted(GroupMemberMuted { group_id, by: owner, user_id: member, until: Some(OffsetDateTime::now_utc()) }),
        GroupEvent::GroupMuteAllChanged(GroupMuteAllChanged { group_id, by: owner, muted: true }),
        GroupEvent::GroupMemberNicknameSet(GroupMemberNicknameSet { group_id, user_id: member, nickname: "Lovelace".into() }),
        GroupEvent::GroupJoinRequested(GroupJoinRequested { group_id, request_id, user_id: member, message: "let me in".into(), invited_by: None }),
        GroupEvent::GroupJoinRequestApproved(decided.clone()),
        GroupEvent::GroupJoinRequestRejected(decided),
    ]
}

#[test]
fn every_event_sample_validates_against_its_schema() {
    for (event_type, version, value) in samples() {
        let path = schema_dir().join(format!("{event_type}.v{version}.json"));
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator.iter_errors(&value).map(|e| format!("{e} at {}", e.instance_path)).collect();
        assert!(errors.is_empty(), "{event_type} sample fails its schema: {errors:?}\n{value:#}");
    }
}

#[test]
fn a_conversation_read_v1_record_validates_against_v1_and_reads_as_a_receipt() {
    let user = Uuid::now_v7();
    let event = MessageEvent::ConversationRead(ConversationRead { conversation_id: direct_conversation_id(user, Uuid::now_v7()), user_id: user, seq: 3, receipt: true });
    let mut v1 = serde_json::to_value(Envelope::new(event, Actor::User(user), "c", None)).unwrap();
    v1["schema_version"] = 1.into();
    v1["payload"].as_object_mut().unwrap().remove("receipt");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_dir().join("ConversationRead.v1.json")).unwrap()).unwrap();
    assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&v1), "a v1 record as it was written");
    let raw = beaver_events::RawEnvelope::from_slice(&serde_json::to_vec(&v1).unwrap()).unwrap();
    let decoded = raw.decode::<MessageEvent>().unwrap();
    assert_eq!(decoded.schema_version, 2);
    assert!(matches!(decoded.payload, MessageEvent::ConversationRead(ConversationRead { receipt: true, seq: 3, .. })));
}

#[test]
fn an_emoji_pack_created_record_from_before_official_packs_validates_and_reads_as_a_users_pack() {
    let user = Uuid::now_v7();
    let EmojiEvent::EmojiPackCreated(pack) = emoji_samples(user).remove(2) else { panic!("the third emoji sample is a pack") };
    let mut old = serde_json::to_value(Envelope::new(EmojiEvent::EmojiPackCreated(pack), Actor::User(user), "c", None)).unwrap();
    old["payload"].as_object_mut().unwrap().remove("official");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_dir().join("EmojiPackCreated.v1.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&old), "a record as it was written before `official`");
    let raw = beaver_events::RawEnvelope::from_slice(&serde_json::to_vec(&old).unwrap()).unwrap();
    assert!(matches!(raw.decode::<EmojiEvent>().unwrap().payload, EmojiEvent::EmojiPackCreated(EmojiPackCreated { official: false, .. })));
    // The operator may append it; the server acting on its own may not.
    old["actor"] = serde_json::json!({ "kind": "system" });
    assert!(!validator.is_valid(&old));
}

#[test]
fn a_payload_that_breaks_the_schema_is_caught() {
    let (event_type, version, mut value) = samples().remove(0);
    value["payload"]["username"] = "Not Valid!".into();
    let path = schema_dir().join(format!("{event_type}.v{version}.json"));
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(!jsonschema::validator_for(&schema).unwrap().is_valid(&value));
}

#[test]
fn schemas_samples_and_known_versions_cover_the_same_event_types() {
    let sampled: BTreeSet<String> = samples().into_iter().map(|(t, v, _)| format!("{t}.v{v}")).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(schema_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".json").to_owned())
        .collect();
    // Older versions stay on disk for readers of old records; the current
    // version of every type has a sample.
    let current: BTreeSet<String> = on_disk
        .iter()
        .filter(|name| {
            let (t, v) = name.split_once(".v").unwrap();
            current_version(t) == Some(v.parse().unwrap())
        })
        .cloned()
        .collect();
    assert_eq!(sampled, current, "every schema file of a current version needs a sample and every event type a schema");
    for name in on_disk.difference(&current) {
        let (t, v) = name.split_once(".v").unwrap();
        assert!(current_version(t).is_some_and(|c| c > v.parse().unwrap()), "{name} is neither current nor an older version of a known type");
    }
    for name in &sampled {
        let (t, v) = name.split_once(".v").unwrap();
        assert_eq!(current_version(t), Some(v.parse().unwrap()), "upcast::current_version must know {t}");
    }
}
