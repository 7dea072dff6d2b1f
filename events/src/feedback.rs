//! Feedback (the seed's "feedback" service): what users tell the team — a
//! bug, a wish, a report of content — and the operator's answer. Keyed by
//! feedback id, so a submission and its status changes stay in order.

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Everything that happens to one piece of feedback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum FeedbackEvent {
    FeedbackSubmitted(FeedbackSubmitted),
    FeedbackStatusChanged(FeedbackStatusChanged),
}

/// What the feedback is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = feedback::Category)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Bug,
    Feature,
    Other,
    Report,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Bug => "bug",
            Category::Feature => "feature",
            Category::Other => "other",
            Category::Report => "report",
        }
    }
}

/// Where a piece of feedback stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    InProgress,
    Resolved,
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "open" => Status::Open,
            "in_progress" => Status::InProgress,
            "resolved" => Status::Resolved,
            "rejected" => Status::Rejected,
            _ => return None,
        })
    }
}

/// What a report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = feedback::TargetType)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    User,
    Message,
    Group,
}

/// The user, message or group a report is about (one the reporter could see).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = feedback::Target)]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: TargetType,
    pub id: Uuid,
}

/// The app the feedback was sent from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = feedback::ClientInfo)]
pub struct ClientInfo {
    /// `ios`, `android`, `web`, `desktop`, `mac` or `windows`.
    pub platform: String,
    /// 1–32 characters of `A-Z a-z 0-9 . _ + -`.
    pub app_version: Option<String>,
}

/// A user sent feedback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedbackSubmitted {
    pub feedback_id: Uuid,
    pub user_id: Uuid,
    pub category: Category,
    pub text: String,
    pub target: Option<Target>,
    pub client: Option<ClientInfo>,
    /// The client's idempotency key (repeats were answered without an event).
    pub client_feedback_id: Option<String>,
}

/// An operator moved the feedback to `status`, optionally with a reply to the user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedbackStatusChanged {
    pub feedback_id: Uuid,
    /// The submitter (whose devices are told).
    pub user_id: Uuid,
    pub status: Status,
    pub reply: Option<String>,
}

impl DomainEvent for FeedbackEvent {
    const AGGREGATE_TYPE: &'static str = "feedback";
    const TOPIC: &'static str = topics::FEEDBACK;

    fn event_type(&self) -> &'static str {
        match self {
            FeedbackEvent::FeedbackSubmitted(_) => "FeedbackSubmitted",
            FeedbackEvent::FeedbackStatusChanged(_) => "FeedbackStatusChanged",
        }
    }

    fn aggregate_id(&self) -> String {
        match self {
            FeedbackEvent::FeedbackSubmitted(e) => e.feedback_id.to_string(),
            FeedbackEvent::FeedbackStatusChanged(e) => e.feedback_id.to_string(),
        }
    }
}
