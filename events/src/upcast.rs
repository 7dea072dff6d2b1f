//! Lifting old schema versions to the current one, in one place.
//!
//! Each event type's current version is what its struct deserialises. When a
//! payload changes incompatibly, bump the version in the event's
//! `schema_version`, add a `schemas/events/<Type>.v<N>.json`, and add a step
//! here that rewrites a `v<N-1>` payload into `v<N>` — consumers then never
//! see the old shape. `ConversationRead` is at v2 (`receipt` added).

use crate::envelope::DecodeError;
use serde_json::Value;

/// Current schema version of every event type this build knows.
pub fn current_version(event_type: &str) -> Option<u32> {
    match event_type {
        "UserRegistered" | "UserProfileUpdated" | "SessionStarted" | "SessionRefreshed" | "SessionEnded" => Some(1),
        "FriendRequestSent" | "FriendRequestAccepted" | "FriendRequestRejected" | "FriendRemoved" | "FriendRemarkSet"
        | "UserBlocked" | "UserUnblocked" => Some(1),
        "GroupCreated" | "GroupUpdated" | "GroupDissolved" | "GroupMembersAdded" | "GroupMemberLeft" | "GroupMemberKicked"
        | "GroupMemberRoleChanged" | "GroupOwnershipTransferred" | "GroupMemberMuted" | "GroupMuteAllChanged"
        | "GroupMemberNicknameSet" | "GroupJoinRequested" | "GroupJoinRequestApproved" | "GroupJoinRequestRejected" => Some(1),
        "MessageSent" | "MessageRecalled" | "MessageEdited" | "MessageDeletedForUser" | "ConversationCleared"
        | "MessageReactionAdded" | "MessageReactionRemoved" | "ConversationSettingsChanged" => Some(1),
        // v2: `receipt` (docs/services.md, "Settings").
        "ConversationRead" => Some(2),
        "UserSettingsChanged" => Some(1),
        "MessageSequenced" => Some(1),
        "ClientEventTracked" => Some(1),
        "FeedbackSubmitted" | "FeedbackStatusChanged" => Some(1),
        "EmojiFavorited" | "EmojiUnfavorited" | "EmojiPackCreated" | "EmojiPackDeleted" | "EmojiPackCollected" | "EmojiPackUncollected" => Some(1),
        "UploadInitiated" | "UploadPartReceived" | "FileStored" | "UploadAborted" | "FileDeleted" => Some(1),
        "AppVersionPublished" | "AppRolloutChanged" | "AppVersionWithdrawn" | "SystemAnnouncementPublished" => Some(1),
        "CallStarted" | "CallAccepted" | "CallDeclined" | "CallMissed" | "CallCancelled" | "CallInvited" | "CallJoined" | "CallLeft"
        | "CallEnded" => Some(1),
        "MomentPosted" | "MomentDeleted" | "MomentLiked" | "MomentUnliked" | "MomentCommented" | "MomentCommentDeleted" => Some(1),
        "NotificationCreated" | "NotificationsRead" | "NotificationDeleted" | "PushTokenRegistered" | "PushTokenRevoked" | "PushJobQueued" => Some(1),
        _ => None,
    }
}

/// Rewrites `payload` from `version` to the current version of `event_type`.
pub fn upcast(event_type: &str, version: u32, mut payload: Value) -> Result<Value, DecodeError> {
    match current_version(event_type) {
        Some(current) if version == current => Ok(payload),
        // ConversationRead v1 → v2: before read receipts could be turned
        // off, every read told the peer.
        Some(2) if event_type == "ConversationRead" && version == 1 => {
            if let Value::Object(fields) = &mut payload {
                fields.entry("receipt").or_insert(Value::Bool(true));
            }
            Ok(payload)
        }
        // Unknown types fall through to the payload decoder, which names them.
        None => Ok(payload),
        Some(_) => Err(DecodeError::UnknownVersion {
            event_type: event_type.to_owned(),
            version,
        }),
    }
}
