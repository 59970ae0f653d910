//! Runs a parsed command: finds the sender's branch and role, checks permission, calls the
//! service, and turns the outcome (or a refusal) into replies.

use super::{
    command::{Args, CommandKey, CommandSpec, MAX_COMMAND_CHARS, Parsed, lookup},
    reply,
};
use crate::{
    domain::{Language, Role},
    platform::{InboundEvent, Reply},
    service::{ServiceError, Services, branches::ChatContext},
};

/// Handles one message, for a sender whose branch and roster entry the caller resolved
/// (`Services::chat_context`, before its limit checks and dedup claim). Only a store failure
/// is an error; every refusal is a reply.
#[tracing::instrument(name = "dispatch", skip_all, fields(command))]
pub async fn dispatch(
    services: &Services,
    event: &InboundEvent,
    ctx: &ChatContext,
    parsed: &Parsed,
) -> Result<Vec<Reply>, ServiceError> {
    // An empty text is a deliberate silence (a check-in acknowledged in the next digest).
    let reply = |text: String| {
        if text.is_empty() {
            return Vec::new();
        }
        vec![Reply {
            chat_id: event.chat.chat_id.clone(),
            text,
        }]
    };
    let (spec, args) = match parsed {
        Parsed::NotCommand => return Ok(Vec::new()),
        Parsed::Command { spec, args } => (*spec, args.as_str()),
        Parsed::Unknown(_) | Parsed::TooLong => {
            let lang = ctx.branch.as_ref().map_or(Language::Zh, |b| b.language);
            let text = match parsed {
                Parsed::Unknown(word) => reply::unknown_command(lang, word),
                _ => reply::too_long(lang, MAX_COMMAND_CHARS),
            };
            return Ok(reply(text));
        }
    };
    tracing::Span::current().record("command", spec.zh[0]);
    let lang = ctx.branch.as_ref().map_or(Language::Zh, |b| b.language);
    match run(services, event, ctx, spec, args).await {
        Ok(text) => Ok(reply(text)),
        Err(e) if matches!(e, ServiceError::Store(_)) => Err(e),
        Err(e) => Ok(reply(reply::service_error(lang, &e))),
    }
}

async fn run(
    services: &Services,
    event: &InboundEvent,
    ctx: &ChatContext,
    spec: &'static CommandSpec,
    args: &str,
) -> Result<String, ServiceError> {
    let role = ctx.role();
    let lang = ctx.branch.as_ref().map_or(Language::Zh, |b| b.language);
    if spec.args == Args::Required && args.is_empty() {
        return Ok(reply::usage_error(lang, spec));
    }
    let Some(branch) = &ctx.branch else {
        return Ok(match spec.key {
            CommandKey::Help => help(lang, Role::Guest, false, args),
            CommandKey::Bind => reply::bound(&services.bind_chat(args, event, false).await?),
            CommandKey::BindCommittee => {
                reply::bound(&services.bind_chat(args, event, true).await?)
            }
            _ if event.chat_kind == crate::platform::ChatKind::Private => {
                reply::no_branch_private(lang)
            }
            _ => reply::not_bound(lang),
        });
    };
    if role < spec.min_role {
        return Ok(reply::forbidden(lang, spec));
    }
    Ok(match spec.key {
        CommandKey::Help => help(lang, role, true, args),
        CommandKey::Bind => reply::bound(&services.bind_chat(args, event, false).await?),
        CommandKey::BindCommittee => reply::bound(&services.bind_chat(args, event, true).await?),
        CommandKey::Join => reply::joined(lang, &services.join(branch, event, args).await?),
        CommandKey::Approve => {
            let (name, role_word) = match args.rsplit_once(' ') {
                Some((name, word)) => match Role::parse(word) {
                    Some(r) => (name.trim(), Some(r)),
                    None => return Ok(reply::usage_error(lang, spec)),
                },
                None => (args, None),
            };
            reply::approved(lang, &services.approve(&branch.id, name, role_word).await?)
        }
        CommandKey::Members => {
            let members = services.list_members(&branch.id).await?;
            reply::roster(lang, branch, &members)
        }
        CommandKey::Me => reply::me(lang, branch, ctx.member.as_ref(), services.clock.now()),
        _ => match &ctx.member {
            // Meeting commands need a roster entry (the role check above implies one).
            Some(member) => {
                super::meetings::run(services, event, branch, member, spec, args).await?
            }
            None => reply::forbidden(lang, spec),
        },
    })
}

fn help(lang: Language, role: Role, bound: bool, topic: &str) -> String {
    if topic.is_empty() {
        return reply::help(lang, role, bound);
    }
    let word = topic.trim_start_matches('/');
    match lookup(word) {
        Some(spec) => reply::help_one(lang, spec),
        None => reply::help_unknown(lang, word),
    }
}
