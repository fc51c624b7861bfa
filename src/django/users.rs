//! Importing `auth_user`: each row checked against chatweb's rules (a name `Username::parse_account`
//! accepts, no NUL, a readable `date_joined`) and against the names chatweb has, compared as chatweb
//! compares them (NFKC, case-insensitive: Django's "Ada" and "ada" are two users, chatweb's one). A taken
//! name is reported and skipped, never overwritten; the password hash is copied as it is.

use std::collections::HashMap;

use crate::domain::Username;
use crate::storage::{Db, ImportedUser, StoreError};

use super::report::{Reporter, Table};
use super::source::UserRow;

/// The accounts messages are linked to, by username key: (id, name as registered). A dry run knows no
/// ids for the users it would import.
pub type Accounts = HashMap<String, (Option<i64>, String)>;

/// The accounts of `target` (none when a dry run has no database yet), each by its stored key and, for
/// one stored while names were NFC only, by its NFKC key too (a Django `admin` collides with chatweb's
/// `ａｄｍｉｎ`).
pub async fn existing(target: Option<&Db>) -> Result<Accounts, StoreError> {
    let Some(db) = target else {
        return Ok(Accounts::new());
    };
    let mut accounts = Accounts::new();
    for (id, name, key) in db.import_accounts().await? {
        let nfkc = Username::from_stored(&key).key();
        if nfkc != key {
            accounts.insert(nfkc, (Some(id), name.clone()));
        }
        accounts.insert(key, (Some(id), name));
    }
    Ok(accounts)
}

/// The user of `row`, or why chatweb cannot take it.
fn check(row: &UserRow) -> Result<ImportedUser, String> {
    let name = row.username.as_deref().unwrap_or_default();
    let username = Username::parse_account(name).map_err(|e| format!("username {name:?}: {e}"))?;
    let email = row.email.clone().unwrap_or_default();
    let password_hash = row.password.clone().unwrap_or_default();
    if email.contains('\0') || password_hash.contains('\0') {
        return Err(format!("user {name:?}: a NUL in the email or password"));
    }
    let created_at = row
        .date_joined
        .ok_or_else(|| format!("user {name:?}: date_joined is not a date"))?;
    Ok(ImportedUser {
        username_key: username.key(),
        username: username.as_str().to_owned(),
        email,
        password_hash,
        is_staff: row.staff,
        is_active: row.active,
        created_at,
        last_login: row.last_login,
    })
}

/// Imports `rows` into `accounts`' database (`db`; nothing is written when `None`, a dry run); adds the
/// users it imports to `accounts`.
pub async fn import(
    db: Option<&Db>,
    rows: &[UserRow],
    accounts: &mut Accounts,
    report: &mut Reporter,
) -> Result<(), StoreError> {
    let mut new = Vec::new();
    for row in rows {
        let user = match check(row) {
            Ok(user) => user,
            Err(why) => {
                report.skipped(Table::Users, row.id, &why);
                continue;
            }
        };
        if let Some((_, holder)) = accounts.get(&user.username_key) {
            report.conflict(row.id, &user.username, holder);
            continue;
        }
        accounts.insert(user.username_key.clone(), (None, user.username.clone()));
        new.push((row.id, user));
    }
    let Some(db) = db else {
        report.summary.users_imported += new.len() as u64;
        return Ok(());
    };
    let users: Vec<ImportedUser> = new.iter().map(|(_, u)| u.clone()).collect();
    let inserted: HashMap<String, i64> = db
        .import_users(&users)
        .await?
        .into_iter()
        .map(|(id, key)| (key, id))
        .collect();
    for (django_id, user) in new {
        match inserted.get(&user.username_key) {
            Some(&id) => {
                report.summary.users_imported += 1;
                accounts.insert(user.username_key, (Some(id), user.username));
            }
            // Taken between the read and the insert (the server was not stopped after all).
            None => {
                report.conflict(django_id, &user.username, &user.username);
                accounts.remove(&user.username_key);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> UserRow {
        UserRow {
            id: 1,
            username: Some(name.to_owned()),
            email: Some("a@example.com".into()),
            password: Some("pbkdf2_sha256$1$s$h".into()),
            staff: true,
            active: false,
            date_joined: Some(1_700_000_000_000),
            last_login: None,
        }
    }

    #[test]
    fn a_user_keeps_its_hash_flags_and_dates_and_names_collide_as_chatweb_compares_them() {
        let user = check(&row("Jose\u{301}")).expect("valid");
        assert_eq!(user.username, "Jos\u{E9}");
        assert_eq!(user.username_key, "jos\u{E9}");
        assert_eq!(user.password_hash, "pbkdf2_sha256$1$s$h");
        assert!(user.is_staff && !user.is_active);
        assert_eq!(user.created_at, 1_700_000_000_000);
    }

    #[test]
    fn names_chatweb_refuses_and_unreadable_rows_are_told_apart() {
        for name in ["a b", "", "anonymous", "x\u{200B}"] {
            assert!(check(&row(name)).is_err(), "{name:?}");
        }
        let mut no_date = row("ada");
        no_date.date_joined = None;
        assert!(
            check(&no_date)
                .expect_err("no date")
                .contains("date_joined")
        );
        let mut nul = row("ada");
        nul.email = Some("a\0b".into());
        assert!(check(&nul).expect_err("a NUL").contains("NUL"));
    }
}
