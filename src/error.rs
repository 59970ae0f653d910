//! Reporting errors with their causes. Every error type of the crate keeps its cause as a
//! `#[source]` and says only its own part in its message, so a message alone ("redis error")
//! tells little: logs and stored records print the whole chain with [`chain`].

use std::{error::Error, fmt};

/// An error and its causes, outermost first, joined by `": "` when displayed:
/// `redis error: Connection refused (os error 111)`. Log it as
/// `error.cause_chain = %Chain(&e)`.
#[derive(Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut previous = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            // A wrapper that repeats its cause in its own message (some library errors do)
            // would print it twice.
            if !text.is_empty() && !previous.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            previous = text;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error and its causes as one line of text, for records that outlive the log (failed
/// jobs, dead letters).
pub fn chain(error: &(dyn Error + 'static)) -> String {
    Chain(error).to_string()
}

/// An owned copy of an error's causes: each message and the chain's shape, without the
/// values themselves. Errors that must be cloned, compared or redacted (a send error is all
/// three) keep their cause as one of these: the original error (a `reqwest::Error`, say) is
/// neither `Clone` nor safe to print before its URL and secrets are taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    message: String,
    source: Option<Box<Cause>>,
}

impl Cause {
    /// A cause with a message and no further cause.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A cause with a message and a further cause: `HTTP 200` caused by the decoding error
    /// of the body that came with it.
    pub fn wrap(message: impl Into<String>, source: Cause) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// Copies an error and all its causes.
    pub fn of(error: &(dyn Error + 'static)) -> Self {
        Self {
            message: error.to_string(),
            source: error.source().map(|s| Box::new(Self::of(s))),
        }
    }

    /// The same chain with every message passed through `f` (to take secrets out).
    #[must_use]
    pub fn map(self, f: &impl Fn(String) -> String) -> Self {
        Self {
            message: f(self.message),
            source: self.source.map(|s| Box::new(s.map(f))),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("redis error")]
        Redis(#[source] std::io::Error),
        #[error("no cause")]
        Alone,
    }

    #[test]
    fn a_chain_prints_every_cause_outermost_first() {
        let e = Outer::Redis(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused",
        ));
        assert_eq!(chain(&e), "redis error: Connection refused");
        assert_eq!(chain(&Outer::Alone), "no cause");
        assert_eq!(
            format!("{:?}", Chain(&e)),
            "redis error: Connection refused"
        );
    }

    #[test]
    fn a_cause_repeated_by_its_wrapper_is_printed_once() {
        let outer = Cause::wrap("request failed: timed out", Cause::new("timed out"));
        assert_eq!(chain(&outer), "request failed: timed out");
    }

    #[test]
    fn a_cause_copies_the_chain_and_maps_every_message() {
        let e = Outer::Redis(std::io::Error::other("token=abc refused"));
        let cause = Cause::of(&e);
        assert_eq!(chain(&cause), "redis error: token=abc refused");
        let clean = cause.map(&|m: String| m.replace("abc", "***"));
        assert_eq!(chain(&clean), "redis error: token=*** refused");
        assert!(clean.source().is_some());
    }
}
