//! Pure types and rules of branch life: no I/O, no clocks, no Redis.

pub mod branch;
pub mod member;

pub use branch::{Branch, BranchId, Language, TimingOverrides};
pub use member::{Identity, Member, MemberStatus, Role};

/// A validation failure naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The field (API) or argument (chat) at fault.
    pub field: &'static str,
    /// What is wrong and what is expected.
    pub message: String,
}

impl Invalid {
    /// Builds a validation failure.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Checks a person's or a branch's name: trimmed, 1..=max characters, no control characters
/// and none of the characters that chat commands give meaning to.
pub fn validate_name(field: &'static str, raw: &str, max: usize) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if name.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '#' | '@' | '<' | '>' | '\u{3000}'))
    {
        return Err(Invalid::new(
            field,
            "must not contain control characters, #, @, < or >",
        ));
    }
    Ok(name.to_owned())
}
