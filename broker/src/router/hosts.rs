//! Which app a host is: `{app}.{router.domain}` by the app's name, any other name by the
//! custom domains added to apps. Answers are remembered for `router.host_cache_ms`, so that a
//! request costs no store query; the bound is the time a change (a new domain, a renamed or
//! deleted app) takes to reach the router of every replica.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::db::models::{App, Domain};
use crate::db::Db;
use crate::error::Result;

/// Hosts remembered at most; a full cache starts over (a flood of made-up names cannot grow it).
const MAX_HOSTS: usize = 10_000;

/// The app a host routes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its id (the pool's key).
    pub app_id: std::sync::Arc<str>,
    /// Its name.
    pub app_name: String,
}

/// A remembered answer: when it was looked up, and the app (`None`: no app has the host).
type Remembered = (Instant, Option<Arc<Target>>);

/// Host → app, from the store, remembered briefly.
pub struct Hosts {
    db: Db,
    /// `.localhost`: the suffix of apps' own host names.
    suffix: String,
    ttl: Duration,
    cache: RwLock<HashMap<String, Remembered>>,
}

impl Hosts {
    /// Resolves hosts under `domain` by app name and others by custom domain.
    pub fn new(db: Db, domain: &str, ttl: Duration) -> Hosts {
        Hosts {
            db,
            suffix: format!(".{}", domain.trim_start_matches('.').to_ascii_lowercase()),
            ttl,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The app `host` routes to (`host` already lower-cased, without its port).
    pub async fn resolve(&self, host: &str) -> Result<Option<Arc<Target>>> {
        if let Some((at, target)) = self.cache.read().ok().and_then(|c| c.get(host).cloned()) {
            if at.elapsed() < self.ttl {
                return Ok(target);
            }
        }
        let target = self.look_up(host).await?.map(Arc::new);
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= MAX_HOSTS {
                cache.clear();
            }
            cache.insert(host.to_string(), (Instant::now(), target.clone()));
        }
        Ok(target)
    }

    async fn look_up(&self, host: &str) -> Result<Option<Target>> {
        // `{app}.{domain}`: one label before the router's domain is an app's name.
        let own = host
            .strip_suffix(self.suffix.as_str())
            .filter(|n| !n.is_empty() && !n.contains('.'));
        let (host, own) = (host.to_string(), own.map(str::to_string));
        self.db
            .run(move |c| {
                let app = match own {
                    Some(name) => App::by_name(c, &name)?,
                    None => match Domain::find_by_hostname(c, &host)? {
                        Some(d) => App::get(c, &d.app_id)?,
                        None => None,
                    },
                };
                Ok(app.map(|a| Target {
                    app_id: a.id.into(),
                    app_name: a.name,
                }))
            })
            .await
    }
}
