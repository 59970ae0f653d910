//! Platform access tokens (Feishu tenant tokens, DingTalk and WeCom access tokens) shared by
//! every replica: cached in Redis until shortly before they expire. When the cache is empty,
//! one replica fetches under a short lock and the others wait for its result, so a fleet
//! never stampedes the platform's token endpoint. An invalid-token answer forces one refresh.

use std::{future::Future, time::Duration};

use super::SendError;
use crate::{
    error::Cause,
    store::{Store, StoreError},
};

static RELEASE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(include_str!("../store/scripts/delete_if_equal.lua"))
});

/// How long the refresh lock is held at most (a fetch that takes longer loses it).
const LOCK_TTL: Duration = Duration::from_secs(15);
/// How long a replica waits for another one's refresh.
const WAIT_FOR_PEER: Duration = Duration::from_secs(5);
/// How often it looks.
const POLL: Duration = Duration::from_millis(50);

fn unavailable(e: StoreError) -> SendError {
    SendError::transient("the access token cache is unavailable").because(Cause::of(&e))
}

/// The bot's token: cached, or fetched by `fetch` (which returns the token and its lifetime).
/// With `stale`, a cached token equal to it is treated as missing: the platform just refused
/// it, so it is replaced once.
pub async fn access_token<F, Fut>(
    store: &Store,
    bot: &str,
    stale: Option<&str>,
    fetch: F,
) -> Result<String, SendError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(String, Duration), SendError>>,
{
    let keys = store.keys();
    let token_key = keys.platform_token(bot);
    let lock_key = keys.platform_token_lock(bot);
    let deadline = tokio::time::Instant::now() + WAIT_FOR_PEER;
    let mut fetch = Some(fetch);
    loop {
        let mut conn = store.conn().await.map_err(unavailable)?;
        let cached: Option<String> = redis::cmd("GET")
            .arg(&token_key)
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable(e.into()))?;
        if let Some(token) = cached
            && Some(token.as_str()) != stale
        {
            return Ok(token);
        }
        let owner = format!("{:016x}", rand::random::<u64>());
        let locked: Option<String> = redis::cmd("SET")
            .arg(&lock_key)
            .arg(&owner)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_TTL.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable(e.into()))?;
        if locked.is_some()
            && let Some(fetch) = fetch.take()
        {
            let fetched = fetch().await;
            if let Ok((token, life)) = &fetched {
                // Renew well before the platform's expiry: a tenth of the life, at least 60 s.
                let margin = (*life / 10).max(Duration::from_secs(60));
                let ttl = life.saturating_sub(margin).max(Duration::from_secs(1));
                let _: () = redis::cmd("SET")
                    .arg(&token_key)
                    .arg(token)
                    .arg("PX")
                    .arg(ttl.as_millis() as u64)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| unavailable(e.into()))?;
            }
            // Release only our own lock: a fetch slower than the lock's TTL must not free a
            // lock another replica took meanwhile.
            let _: Result<i64, _> = RELEASE
                .key(&lock_key)
                .arg(&owner)
                .invoke_async(&mut conn)
                .await;
            return fetched.map(|(token, _)| token);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(SendError::transient(
                "another replica is still refreshing the access token",
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// How long a looked-up display name is kept.
pub const NAME_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A cached display name.
pub async fn cached_name(
    store: &Store,
    bot: &str,
    user_id: &str,
) -> Result<Option<String>, StoreError> {
    let mut conn = store.conn().await?;
    Ok(redis::cmd("GET")
        .arg(store.keys().display_name(bot, user_id))
        .query_async(&mut conn)
        .await?)
}

/// Remembers a display name.
pub async fn cache_name(
    store: &Store,
    bot: &str,
    user_id: &str,
    name: &str,
) -> Result<(), StoreError> {
    let mut conn = store.conn().await?;
    let _: () = redis::cmd("SET")
        .arg(store.keys().display_name(bot, user_id))
        .arg(name)
        .arg("EX")
        .arg(NAME_TTL.as_secs())
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// How long a bot's own username, once learned, is trusted: a day, so a renamed bot is
/// noticed by the next start after that.
pub const BOT_USERNAME_TTL: Duration = Duration::from_secs(24 * 3600);

/// The bot's own username, if a replica learned it within [`BOT_USERNAME_TTL`].
pub async fn cached_bot_username(store: &Store, bot: &str) -> Result<Option<String>, StoreError> {
    let mut conn = store.conn().await?;
    Ok(redis::cmd("GET")
        .arg(store.keys().bot_username(bot))
        .query_async(&mut conn)
        .await?)
}

/// Remembers the bot's own username for every replica and the next start.
pub async fn cache_bot_username(store: &Store, bot: &str, name: &str) -> Result<(), StoreError> {
    let mut conn = store.conn().await?;
    let _: () = redis::cmd("SET")
        .arg(store.keys().bot_username(bot))
        .arg(name)
        .arg("EX")
        .arg(BOT_USERNAME_TTL.as_secs())
        .query_async(&mut conn)
        .await?;
    Ok(())
}
