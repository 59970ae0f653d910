//! The shared access-token cache: one fetch for a fleet, one refresh on an invalid token.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use mobile_branch::{
    platform::{SendError, token::access_token},
    store::Store,
};

use crate::helpers::{REDIS, test_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_callers_fetch_once_and_a_refused_token_is_refreshed_once() {
    let store = Store::new(&test_settings(&REDIS.url(), "").redis).unwrap();
    let fetches = Arc::new(AtomicU32::new(0));
    let fetch = |fetches: Arc<AtomicU32>| async move {
        let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, SendError>((format!("token-{n}"), Duration::from_secs(7200)))
    };

    let callers: Vec<_> = (0..10)
        .map(|_| {
            let (store, fetches) = (store.clone(), fetches.clone());
            tokio::spawn(async move { access_token(&store, "bot", None, || fetch(fetches)).await })
        })
        .collect();
    for c in callers {
        assert_eq!(c.await.unwrap().unwrap(), "token-1");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // The platform refused token-1: every replica that saw the refusal asks with it as stale;
    // one refresh serves them all.
    let callers: Vec<_> = (0..5)
        .map(|_| {
            let (store, fetches) = (store.clone(), fetches.clone());
            tokio::spawn(async move {
                access_token(&store, "bot", Some("token-1"), || fetch(fetches)).await
            })
        })
        .collect();
    for c in callers {
        assert_eq!(c.await.unwrap().unwrap(), "token-2");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 2);

    // A failed fetch is reported and not cached.
    let failed = access_token(&store, "other", None, || async {
        Err::<(String, Duration), _>(SendError::permanent("the app secret is wrong"))
    })
    .await;
    assert!(matches!(failed, Err(SendError::Permanent { .. })));
    let ok = access_token(&store, "other", None, || async {
        Ok(("fine".to_owned(), Duration::from_secs(60)))
    })
    .await;
    assert_eq!(ok.unwrap(), "fine");
}
