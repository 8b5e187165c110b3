//! The body a `[[webhooks]]` URL of certherd.toml receives: one JSON object per alarm
//! raised or cleared, POSTed with `Content-Type: application/json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happened to the alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookEvent {
    /// The alarm was raised.
    Raised,
    /// The alarm was cleared.
    Cleared,
}

/// One alarm change, as a webhook receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookNotification {
    // The fields are declared in alphabetical order: the order the body's keys have
    // always had on the wire (a sorted JSON map before this type existed).
    /// When the alarm was cleared (RFC 3339); null while it is open.
    pub cleared_at: Option<String>,
    /// For `deploy-failed`: what the host's reload command printed. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `raised` or `cleared`.
    pub event: WebhookEvent,
    /// The alarm's kind: `expiring-30d`, `expiring-14d`, `expiring-7d`, `expired`,
    /// `chain-invalid`, `verification-disabled`, `host-silent`, `deploy-failed` or
    /// `revoked`.
    pub kind: String,
    /// The node that recorded the change (the server holding the lifecycle lease).
    pub node: String,
    /// When the alarm was raised (RFC 3339).
    pub raised_at: String,
    /// What the alarm is about: an entry (`STORE/ALIAS`), an endpoint or a host.
    pub subject: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The keys in the order they always had (serde_json's sorted map), `detail` only
    /// when there is one.
    #[test]
    fn keys_are_sorted_and_detail_is_optional() {
        let mut n = WebhookNotification {
            cleared_at: None,
            detail: None,
            event: WebhookEvent::Raised,
            kind: "expired".into(),
            node: "mgmt".into(),
            raised_at: "2026-01-01T00:00:00Z".into(),
            subject: "web/site".into(),
        };
        assert_eq!(
            crate::encode(&n),
            r#"{"cleared_at":null,"event":"raised","kind":"expired","node":"mgmt","raised_at":"2026-01-01T00:00:00Z","subject":"web/site"}"#
        );
        n.detail = Some("failed".into());
        assert!(crate::encode(&n).starts_with(r#"{"cleared_at":null,"detail":"failed","event""#));
    }
}
