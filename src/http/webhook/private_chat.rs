//! A private message from someone on several branches' rosters who has not chosen the branch
//! their private commands go to: a group names its branch, a private chat does not. They are
//! asked which (their command is not run, and they are told to send it again after choosing),
//! or, if the message is `支部 <n>`, the choice is made. Both are idempotent, so a retry needs
//! no claim; both count against the chat's limits like any command.

use axum::response::{IntoResponse, Response};

use super::{count, queue_deferred, refused, service_failure};
use crate::{
    chat::{
        command::{self, CommandKey, Parsed},
        reply,
    },
    domain::{Branch, Language},
    platform::{InboundEvent, Platform, Reply},
    state::AppState,
    store::limits::CommandVerdict,
};

/// Answers the message of a sender who must choose among `branches` (two or more, each of
/// whose rosters holds the account).
pub(super) async fn choose_first(
    state: &AppState,
    adapter: &dyn Platform,
    event: &InboundEvent,
    parsed: &Parsed,
    branches: &[Branch],
) -> Response {
    let platform = adapter.kind().as_str();
    let services = &state.services;
    let sender = event.sender();
    let lang = branches.first().map_or(Language::Zh, |b| b.language);
    let text = match services.count_unbound(&sender, false).await {
        Err(e) => return service_failure(platform, e).into_response(),
        Ok(CommandVerdict::Refused {
            scope,
            first,
            retry_after,
        }) => refused(platform, lang, scope, first, retry_after),
        Ok(CommandVerdict::Allowed) => Some(match parsed {
            Parsed::Command { spec, args } if spec.key == CommandKey::Branch => {
                match services.choose_branch(&sender, args).await {
                    Ok(outcome) => match branches.first() {
                        Some(here) => reply::private::choice(here, &outcome),
                        None => reply::no_branch_private(lang),
                    },
                    Err(e) => return service_failure(platform, e).into_response(),
                }
            }
            Parsed::Command { .. } => {
                let typed = command::normalize(&event.text);
                reply::private::choose_first(branches, Some(typed.trim_start_matches('/')))
            }
            Parsed::NotCommand | Parsed::Unknown(_) | Parsed::TooLong => {
                reply::private::choose_first(branches, None)
            }
        }),
    };
    let replies: Vec<Reply> = text
        .into_iter()
        .map(|text| Reply {
            chat_id: event.chat.chat_id.clone(),
            text,
        })
        .collect();
    let rendered = adapter.render_replies(event, &replies);
    if let Err(problem) = queue_deferred(state, platform, event, &rendered.deferred).await {
        return problem.into_response();
    }
    count(platform, if replies.is_empty() { "limited" } else { "ok" });
    rendered.response
}
