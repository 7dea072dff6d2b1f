//! Moments (the seed's "moment" service, the friends' feed): posts, likes
//! and comments, keyed by moment id, so one moment's likes and comments are
//! in order with it (docs/services.md, "Moments").

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who besides the author may see a moment (among the author's friends).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = moment::Visibility)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Friends,
    Private,
    /// Only the listed users.
    Selected,
    /// Every friend but the listed users.
    Except,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Friends => "friends",
            Visibility::Private => "private",
            Visibility::Selected => "selected",
            Visibility::Except => "except",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Visibility::Friends, Visibility::Private, Visibility::Selected, Visibility::Except].into_iter().find(|v| v.as_str() == s)
    }

    /// Whether a friend of the author passes the list (`listed`: the friend is in `users`).
    pub fn allows(self, listed: bool) -> bool {
        match self {
            Visibility::Friends => true,
            Visibility::Private => false,
            Visibility::Selected => listed,
            Visibility::Except => !listed,
        }
    }
}

/// A stored photo or video of a moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub file_id: Uuid,
    /// `image` or `video`.
    pub kind: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MomentEvent {
    MomentPosted(MomentPosted),
    MomentDeleted(MomentDeleted),
    MomentLiked(MomentLike),
    MomentUnliked(MomentLike),
    MomentCommented(MomentCommented),
    MomentCommentDeleted(MomentCommentDeleted),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MomentPosted {
    /// UUIDv7: moment ids order by time.
    pub moment_id: Uuid,
    pub author_id: Uuid,
    pub text: String,
    pub media: Vec<Media>,
    pub visibility: Visibility,
    /// The `selected` or `except` list (empty otherwise).
    pub users: Vec<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MomentDeleted {
    pub moment_id: Uuid,
    pub author_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MomentLike {
    pub moment_id: Uuid,
    pub author_id: Uuid,
    pub user_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MomentCommented {
    pub moment_id: Uuid,
    pub author_id: Uuid,
    pub comment_id: Uuid,
    pub user_id: Uuid,
    pub text: String,
    pub reply_to: Option<Uuid>,
    /// The writer of `reply_to`.
    pub reply_to_user_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MomentCommentDeleted {
    pub moment_id: Uuid,
    pub comment_id: Uuid,
    /// Who deleted it (the comment's writer or the moment's author).
    pub user_id: Uuid,
}

impl MomentEvent {
    pub fn moment_id(&self) -> Uuid {
        match self {
            MomentEvent::MomentPosted(e) => e.moment_id,
            MomentEvent::MomentDeleted(e) => e.moment_id,
            MomentEvent::MomentLiked(e) | MomentEvent::MomentUnliked(e) => e.moment_id,
            MomentEvent::MomentCommented(e) => e.moment_id,
            MomentEvent::MomentCommentDeleted(e) => e.moment_id,
        }
    }
}

impl DomainEvent for MomentEvent {
    const AGGREGATE_TYPE: &'static str = "moment";
    const TOPIC: &'static str = topics::MOMENTS;

    fn event_type(&self) -> &'static str {
        match self {
            MomentEvent::MomentPosted(_) => "MomentPosted",
            MomentEvent::MomentDeleted(_) => "MomentDeleted",
            MomentEvent::MomentLiked(_) => "MomentLiked",
            MomentEvent::MomentUnliked(_) => "MomentUnliked",
            MomentEvent::MomentCommented(_) => "MomentCommented",
            MomentEvent::MomentCommentDeleted(_) => "MomentCommentDeleted",
        }
    }

    fn aggregate_id(&self) -> String {
        self.moment_id().to_string()
    }
}
