//! Which inbox items an event of another aggregate makes (the notifier's
//! rules; docs/services.md, "How items are made"). Pure: the notifier loads
//! the facts (a group's admins, whom the recipient blocked, their
//! settings) and appends what these functions return.

use beaver_events::{
    group::GroupEvent,
    moment::MomentEvent,
    notification::{notification_id, Category, NotificationCreated, Target},
    relation::RelationEvent,
    user::Categories,
};
use uuid::Uuid;

fn item(source: Uuid, user_id: Uuid, category: Category, kind: &str, actor_id: Uuid, target: Target, text: &str) -> NotificationCreated {
    NotificationCreated {
        notification_id: notification_id(source, user_id),
        user_id,
        category,
        kind: kind.into(),
        actor_id,
        target,
        text: text.into(),
        source_event_id: source,
        group_key: None,
    }
}

fn group(id: Uuid) -> Target {
    Target { kind: "group".into(), id }
}

/// Items a relation event makes (`source`: its event id).
pub fn from_relation(source: Uuid, event: &RelationEvent) -> Vec<NotificationCreated> {
    match event {
        RelationEvent::FriendRequestSent(e) if !e.hidden_from_recipient => vec![item(
            source,
            e.to_user_id,
            Category::Social,
            "friend_request",
            e.from_user_id,
            Target { kind: "friend_request".into(), id: e.request_id },
            &e.message,
        )],
        RelationEvent::FriendRequestAccepted(e) => {
            vec![item(source, e.from_user_id, Category::Social, "friend_accepted", e.to_user_id, Target { kind: "user".into(), id: e.to_user_id }, "")]
        }
        _ => vec![],
    }
}

/// Items a group event makes; `admins` are the group's owner and admins
/// (only read for a join request).
pub fn from_group(source: Uuid, event: &GroupEvent, admins: &[Uuid]) -> Vec<NotificationCreated> {
    match event {
        GroupEvent::GroupCreated(e) => e
            .member_ids
            .iter()
            .filter(|m| **m != e.owner_id)
            .map(|m| item(source, *m, Category::Group, "added", e.owner_id, group(e.group_id), ""))
            .collect(),
        GroupEvent::GroupMembersAdded(e) => {
            e.user_ids.iter().filter(|m| **m != e.by).map(|m| item(source, *m, Category::Group, "added", e.by, group(e.group_id), "")).collect()
        }
        GroupEvent::GroupMemberKicked(e) => vec![item(source, e.user_id, Category::Group, "removed", e.by, group(e.group_id), "")],
        GroupEvent::GroupJoinRequested(e) => admins
            .iter()
            .map(|a| NotificationCreated {
                group_key: Some(format!("join_request:{}", e.group_id)),
                ..item(source, *a, Category::Group, "join_request", e.user_id, group(e.group_id), &e.message)
            })
            .collect(),
        GroupEvent::GroupJoinRequestApproved(e) => vec![item(source, e.user_id, Category::Group, "join_approved", e.by, group(e.group_id), "")],
        GroupEvent::GroupJoinRequestRejected(e) => vec![item(source, e.user_id, Category::Group, "join_rejected", e.by, group(e.group_id), "")],
        _ => vec![],
    }
}

/// Items a moment event makes: a like or comment tells the author, a reply
/// tells the user replied to (the author once, as a reply, when that is
/// them). The notifier drops a recipient who may no longer see the moment.
pub fn from_moment(source: Uuid, event: &MomentEvent) -> Vec<NotificationCreated> {
    let moment = |id| Target { kind: "moment".into(), id };
    match event {
        MomentEvent::MomentLiked(e) => vec![NotificationCreated {
            group_key: Some(format!("moment_like:{}", e.moment_id)),
            ..item(source, e.author_id, Category::Moment, "moment_liked", e.user_id, moment(e.moment_id), "")
        }],
        MomentEvent::MomentCommented(e) => {
            let mut out = Vec::new();
            if e.reply_to_user_id != Some(e.author_id) {
                out.push(item(source, e.author_id, Category::Moment, "moment_commented", e.user_id, moment(e.moment_id), &e.text));
            }
            if let Some(to) = e.reply_to_user_id {
                out.push(item(source, to, Category::Moment, "moment_replied", e.user_id, moment(e.moment_id), &e.text));
            }
            out
        }
        _ => vec![],
    }
}

/// The item an announcement makes for one user (every user gets one, once
/// it has started): category `system`, no actor (the nil id), the
/// announcement's title and body as text.
pub fn from_announcement(announcement_id: Uuid, title: &str, body: &str, user: Uuid) -> NotificationCreated {
    let text = if body.is_empty() { title.to_owned() } else { format!("{title}\n{body}") };
    item(announcement_id, user, Category::System, "announcement", Uuid::nil(), Target { kind: "announcement".into(), id: announcement_id }, &text)
}

/// Items a missed call makes: one per invitee whose ring ended unanswered,
/// from the caller (the notifier reads who called).
pub fn from_missed_call(source: Uuid, call_id: Uuid, caller: Uuid, missed: &[Uuid]) -> Vec<NotificationCreated> {
    missed.iter().map(|u| item(source, *u, Category::Call, "call_missed", caller, Target { kind: "call".into(), id: call_id }, "")).collect()
}

/// Whether the recipient keeps an item: not their own action, not from an
/// actor they blocked, not a category their settings switched off.
pub fn keeps(item: &NotificationCreated, actor_blocked: bool, categories: &Categories) -> bool {
    let wanted = match item.category {
        Category::Social => categories.friends,
        Category::Group => categories.groups,
        Category::Moment => categories.moments,
        Category::Call => categories.calls,
        Category::System => categories.system,
    };
    item.actor_id != item.user_id && !actor_blocked && wanted
}

#[cfg(test)]
mod tests {
    use super::*;
    use beaver_events::{group::*, relation::*};

    #[test]
    fn a_friend_request_notifies_its_recipient_unless_hidden() {
        let (a, b, r, src) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let sent = |hidden| RelationEvent::FriendRequestSent(FriendRequestSent { request_id: r, from_user_id: a, to_user_id: b, message: "hi".into(), hidden_from_recipient: hidden });
        let items = from_relation(src, &sent(false));
        assert_eq!(items.len(), 1);
        let i = &items[0];
        assert_eq!((i.user_id, i.actor_id, i.kind.as_str(), i.text.as_str(), i.target.id), (b, a, "friend_request", "hi", r));
        assert_eq!(i.notification_id, notification_id(src, b));
        assert!(from_relation(src, &sent(true)).is_empty());
        let accepted = RelationEvent::FriendRequestAccepted(FriendRequestDecided { request_id: r, from_user_id: a, to_user_id: b });
        let items = from_relation(src, &accepted);
        assert_eq!((items[0].user_id, items[0].actor_id, items[0].kind.as_str()), (a, b, "friend_accepted"));
        assert!(from_relation(src, &RelationEvent::FriendRemoved(FriendRemoved { user_id: a, friend_id: b })).is_empty());
    }

    #[test]
    fn join_requests_go_to_every_admin_and_coalesce_by_group() {
        let (g, u, o, adm, src) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let e = GroupEvent::GroupJoinRequested(GroupJoinRequested { group_id: g, request_id: Uuid::now_v7(), user_id: u, message: "me".into(), invited_by: None });
        let items = from_group(src, &e, &[o, adm]);
        assert_eq!(items.iter().map(|i| i.user_id).collect::<Vec<_>>(), vec![o, adm]);
        assert!(items.iter().all(|i| i.group_key.as_deref() == Some(&format!("join_request:{g}")[..]) && i.actor_id == u));
        assert_ne!(items[0].notification_id, items[1].notification_id);
    }

    #[test]
    fn members_added_by_someone_else_are_told_and_the_adder_is_not() {
        let (g, by, x, src) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let e = GroupEvent::GroupMembersAdded(GroupMembersAdded { group_id: g, by, user_ids: vec![by, x], via: JoinedVia::Invited });
        let items = from_group(src, &e, &[]);
        assert_eq!(items.iter().map(|i| (i.user_id, i.kind.as_str())).collect::<Vec<_>>(), vec![(x, "added")]);
        let kicked = GroupEvent::GroupMemberKicked(GroupMemberRemoved { group_id: g, by, user_id: x });
        assert_eq!(from_group(src, &kicked, &[])[0].kind, "removed");
        let left = GroupEvent::GroupMemberLeft(GroupMemberRemoved { group_id: g, by: x, user_id: x });
        assert!(from_group(src, &left, &[]).is_empty());
    }

    #[test]
    fn likes_coalesce_per_moment_and_a_reply_tells_the_user_replied_to() {
        use beaver_events::moment::*;
        let (author, f, g, m, src) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let liked = from_moment(src, &MomentEvent::MomentLiked(MomentLike { moment_id: m, author_id: author, user_id: f }));
        assert_eq!((liked[0].user_id, liked[0].kind.as_str(), liked[0].group_key.clone()), (author, "moment_liked", Some(format!("moment_like:{m}"))));
        let comment = |reply_to_user_id: Option<Uuid>| MomentEvent::MomentCommented(MomentCommented {
            moment_id: m, author_id: author, comment_id: Uuid::now_v7(), user_id: f, text: "hey".into(), reply_to: reply_to_user_id.map(|_| Uuid::now_v7()), reply_to_user_id,
        });
        let plain = from_moment(src, &comment(None));
        assert_eq!(plain.iter().map(|i| (i.user_id, i.kind.as_str())).collect::<Vec<_>>(), vec![(author, "moment_commented")]);
        let to_g = from_moment(src, &comment(Some(g)));
        assert_eq!(to_g.iter().map(|i| (i.user_id, i.kind.as_str())).collect::<Vec<_>>(), vec![(author, "moment_commented"), (g, "moment_replied")]);
        let to_author = from_moment(src, &comment(Some(author)));
        assert_eq!(to_author.iter().map(|i| (i.user_id, i.kind.as_str())).collect::<Vec<_>>(), vec![(author, "moment_replied")]);
        assert!(to_author.iter().all(|i| i.notification_id == notification_id(src, i.user_id)));
    }

    #[test]
    fn an_announcement_is_one_system_item_per_user_from_nobody() {
        let (a, u, v) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let i = from_announcement(a, "Maintenance", "tonight", u);
        assert_eq!((i.category, i.kind.as_str(), i.actor_id, i.text.as_str(), i.target.id), (Category::System, "announcement", Uuid::nil(), "Maintenance\ntonight", a));
        assert_eq!(i.notification_id, from_announcement(a, "changed", "", u).notification_id, "one item per announcement and user");
        assert_ne!(i.notification_id, from_announcement(a, "Maintenance", "tonight", v).notification_id);
        assert!(keeps(&i, false, &Categories::default()));
        assert!(!keeps(&i, false, &Categories { system: false, ..Categories::default() }));
    }

    #[test]
    fn a_missed_call_is_a_call_item_from_the_caller_for_each_invitee_who_missed_it() {
        let (call, caller, a, b, src) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let items = from_missed_call(src, call, caller, &[a, b]);
        assert_eq!(items.iter().map(|i| (i.user_id, i.actor_id, i.kind.as_str(), i.category)).collect::<Vec<_>>(), vec![(a, caller, "call_missed", Category::Call), (b, caller, "call_missed", Category::Call)]);
        assert!(!keeps(&items[0], false, &Categories { calls: false, ..Categories::default() }));
    }

    #[test]
    fn own_actions_blocked_actors_and_switched_off_categories_are_dropped() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let i = item(Uuid::now_v7(), b, Category::Social, "friend_request", a, group(a), "");
        let all = Categories::default();
        assert!(keeps(&i, false, &all));
        assert!(!keeps(&i, true, &all));
        assert!(!keeps(&NotificationCreated { actor_id: b, ..i.clone() }, false, &all));
        assert!(!keeps(&i, false, &Categories { friends: false, ..all.clone() }));
        assert!(keeps(&i, false, &Categories { groups: false, ..all }));
    }
}
