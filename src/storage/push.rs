//! Web Push rows (issue 21, migration 0016): the one VAPID key pair every node signs with
//! ([`Db::push_key`], race-free when nodes start together), the browsers' subscriptions (stored, listed,
//! removed), and whom a message may be pushed to ([`Db::push_targets`]).

use super::{Db, StoreError, on_db};

/// A stored subscription, as its owner's settings page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushSubscriptionRow {
    /// Where the push service takes messages for that browser.
    pub endpoint: String,
    /// When it was stored (ms since the epoch).
    pub created_at: i64,
}

/// A subscription of someone a message may be pushed to, with what the access check needs of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushTarget {
    /// The account.
    pub user_id: i64,
    /// Its name.
    pub username: String,
    /// Staff (the access check asks).
    pub is_staff: bool,
    /// Where to POST.
    pub endpoint: String,
    /// The browser's public key (base64url).
    pub p256dh: String,
    /// The browser's auth secret (base64url).
    pub auth: String,
}

/// A subscription about to be stored.
#[derive(Clone, Debug)]
pub struct NewPushSubscription<'a> {
    /// Its owner.
    pub user_id: i64,
    /// Its endpoint (checked by the outbound guard).
    pub endpoint: &'a str,
    /// The browser's public key (checked).
    pub p256dh: &'a str,
    /// The browser's auth secret (checked).
    pub auth: &'a str,
    /// Now, ms since the epoch.
    pub now_ms: i64,
}

const TARGET_COLUMNS: &str = "u.id, u.username, u.is_staff, s.endpoint, s.p256dh, s.auth";

type TargetTuple = (i64, String, bool, String, String, String);

fn target(t: TargetTuple) -> PushTarget {
    PushTarget {
        user_id: t.0,
        username: t.1,
        is_staff: t.2,
        endpoint: t.3,
        p256dh: t.4,
        auth: t.5,
    }
}

impl Db {
    /// The VAPID private key: the stored one, or `candidate` stored now if there is none. Two nodes
    /// starting at once both insert; the second insert does nothing and both read the one row.
    pub async fn push_key(&self, candidate: &str, now_ms: i64) -> Result<String, StoreError> {
        let key = on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO push_keys (id, private_key, created_at) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(candidate)
            .bind(now_ms)
            .execute(pool)
            .await?;
            sqlx::query_scalar::<_, String>("SELECT private_key FROM push_keys WHERE id = 1")
                .fetch_one(pool)
                .await?
        });
        Ok(key)
    }

    /// Stores a subscription, or updates the one with its endpoint (a browser subscribing again, maybe
    /// for another account: the endpoint is the browser's, so its newest owner has it).
    pub async fn save_push_subscription(
        &self,
        new: &NewPushSubscription<'_>,
    ) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO UPDATE SET \
                 user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth, \
                 created_at = excluded.created_at",
            )
            .bind(new.user_id)
            .bind(new.endpoint)
            .bind(new.p256dh)
            .bind(new.auth)
            .bind(new.now_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Removes `user_id`'s subscription at `endpoint`; whether there was one.
    pub async fn remove_push_subscription(
        &self,
        user_id: i64,
        endpoint: &str,
    ) -> Result<bool, StoreError> {
        let removed = on_db!(self, |pool| {
            sqlx::query("DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2")
                .bind(user_id)
                .bind(endpoint)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(removed > 0)
    }

    /// Removes the subscription at `endpoint`, whoever's it is (its push service says it is gone).
    pub async fn drop_push_endpoint(&self, endpoint: &str) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            sqlx::query("DELETE FROM push_subscriptions WHERE endpoint = $1")
                .bind(endpoint)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// `user_id`'s subscriptions, newest first.
    pub async fn push_subscriptions(
        &self,
        user_id: i64,
    ) -> Result<Vec<PushSubscriptionRow>, StoreError> {
        let rows: Vec<(String, i64)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT endpoint, created_at FROM push_subscriptions WHERE user_id = $1 \
                 ORDER BY created_at DESC, id DESC",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(endpoint, created_at)| PushSubscriptionRow {
                endpoint,
                created_at,
            })
            .collect())
    }

    /// Whether anyone has a subscription (nothing is worth looking up for a message otherwise).
    pub async fn any_push_subscription(&self) -> Result<bool, StoreError> {
        let any: Option<i64> = on_db!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM push_subscriptions LIMIT 1")
                .fetch_optional(pool)
                .await?
        });
        Ok(any.is_some())
    }

    /// The subscriptions of the active accounts named `names` (exactly as accounts spell them) and, when
    /// `room` is a direct room, of its members.
    pub async fn push_targets(
        &self,
        names: &[String],
        room: &str,
    ) -> Result<Vec<PushTarget>, StoreError> {
        let mut list = String::new();
        for i in 0..names.len() {
            if i > 0 {
                list.push_str(", ");
            }
            list.push_str(&format!("${}", i + 2));
        }
        let named = if names.is_empty() {
            String::new()
        } else {
            format!(
                "SELECT {TARGET_COLUMNS} FROM push_subscriptions s JOIN users u ON u.id = s.user_id \
                 WHERE u.is_active AND u.username IN ({list}) UNION "
            )
        };
        let sql = format!(
            "{named}SELECT {TARGET_COLUMNS} FROM rooms r \
             JOIN room_members m ON m.room_id = r.id \
             JOIN users u ON u.id = m.user_id \
             JOIN push_subscriptions s ON s.user_id = u.id \
             WHERE r.name = $1 AND r.kind = 'direct' AND u.is_active"
        );
        let rows: Vec<TargetTuple> = on_db!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(room);
            for name in names {
                query = query.bind(name.as_str());
            }
            query.fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(target).collect())
    }
}
