//! Pure types and rules of branch life: no I/O, no clocks, no Redis.

pub mod branch;
pub mod chat;
pub mod job;
pub mod ledger;
pub mod meeting;
pub mod member;
pub mod timing;
pub mod workdays;

pub use branch::{Branch, BranchId, Language, TimingOverrides};
pub use member::{Identity, JoinRequest, Member, MemberStatus, Role};

/// A validation failure naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The field (API) or argument (chat) at fault.
    pub field: &'static str,
    /// What is wrong and what is expected (English: API and logs).
    pub message: String,
    /// The same for a Chinese chat reply, where the failure can reach a chat.
    pub message_zh: Option<String>,
}

impl Invalid {
    /// Builds a validation failure.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
            message_zh: None,
        }
    }

    /// Adds the Chinese text for chat replies.
    #[must_use]
    pub fn zh(mut self, message: impl Into<String>) -> Self {
        self.message_zh = Some(message.into());
        self
    }
}

/// Checks a person's or a branch's name: trimmed, 1..=max characters, no control characters
/// and none of the characters that chat commands give meaning to.
pub fn validate_name(field: &'static str, raw: &str, max: usize) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Invalid::new(field, "must not be empty").zh("姓名不能为空"));
    }
    if name.chars().count() > max {
        return Err(
            Invalid::new(field, format!("must be at most {max} characters"))
                .zh(format!("姓名最多 {max} 个字")),
        );
    }
    if name.chars().any(|c| {
        c.is_control() || matches!(c, '#' | '@' | '<' | '>' | '\u{3000}') || chat::is_token_char(c)
    }) {
        return Err(
            Invalid::new(field, "must not contain control characters, #, @, < or >")
                .zh("姓名不能包含 # @ < > 等符号"),
        );
    }
    Ok(name.to_owned())
}
