//! Importing `auth_user`: each row checked against chatweb's rules (a name `Username::parse_account`
//! accepts, no NUL, a readable `date_joined`) and against the names chatweb has, compared as chatweb
//! compares them (NFKC, case-insensitive: Django's "Ada" and "ada" are two users, chatweb's one). A taken
//! name is reported and skipped, never overwritten; the password hash is copied as it is.
//!
//! Which chatweb account is a Django user's own ([`People::linked`]), so that their messages are credited
//! to it: the one this run imported from that user, or the one an earlier run did (the same name, created
//! at the user's `date_joined`, which an import keeps and a sign-up never has). An account that merely
//! has the name (registered on chatweb before the move, or another Django user's that collides with it in
//! case) is no one's here: crediting it would let a stranger edit the Django user's messages.

use std::collections::HashMap;

use crate::domain::Username;
use crate::storage::{Db, ExistingAccount, ImportedUser, StoreError};

use super::report::{Reporter, Table};
use super::source::UserRow;

/// A chatweb account: its id (a dry run knows none for the users it would import) and its name as
/// registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Its id; `None` for a user a dry run would import.
    pub id: Option<i64>,
    /// Its name as registered.
    pub name: String,
}

/// The people an import knows of.
#[derive(Debug, Default)]
pub struct People {
    /// Every chatweb account by username key (and, for one stored before names were NFKC, by its NFKC key
    /// too): a Django user of such a name is a conflict.
    pub accounts: HashMap<String, Account>,
    /// The Django users whose chatweb account is their own, by their name (NFKC, as stored): their
    /// messages are credited to it.
    pub linked: HashMap<String, Account>,
    /// When each existing account was created, by id (to recognise an earlier import's users).
    created: HashMap<i64, i64>,
}

/// The accounts of `target` (none when a dry run has no database yet).
pub async fn existing(target: Option<&Db>) -> Result<People, StoreError> {
    let Some(db) = target else {
        return Ok(People::default());
    };
    let mut people = People::default();
    for row in db.import_accounts().await? {
        let ExistingAccount {
            id,
            username,
            username_key,
            created_at,
        } = row;
        let account = Account {
            id: Some(id),
            name: username,
        };
        let nfkc = Username::from_stored(&username_key).key();
        if nfkc != username_key {
            people.accounts.insert(nfkc, account.clone());
        }
        people.accounts.insert(username_key, account);
        people.created.insert(id, created_at);
    }
    Ok(people)
}

impl People {
    /// Whether `holder`, which has `user`'s name, is the account an earlier import made of `user`.
    fn imported_earlier(&self, holder: &Account, user: &ImportedUser) -> bool {
        holder.name == user.username
            && holder
                .id
                .and_then(|id| self.created.get(&id))
                .is_some_and(|&created| created == user.created_at)
    }
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

/// Imports `rows` into the database (`db`; nothing is written when `None`, a dry run); adds the users it
/// imports to `people`, and links each Django user to their own account.
pub async fn import(
    db: Option<&Db>,
    rows: &[UserRow],
    people: &mut People,
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
        if let Some(holder) = people.accounts.get(&user.username_key) {
            if people.imported_earlier(holder, &user) {
                people.linked.insert(user.username.clone(), holder.clone());
            }
            report.conflict(row.id, &user.username, &holder.name);
            continue;
        }
        let account = Account {
            id: None,
            name: user.username.clone(),
        };
        people
            .accounts
            .insert(user.username_key.clone(), account.clone());
        people.linked.insert(user.username.clone(), account);
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
                let account = Account {
                    id: Some(id),
                    name: user.username.clone(),
                };
                people.accounts.insert(user.username_key, account.clone());
                people.linked.insert(user.username, account);
            }
            // Taken between the read and the insert (the server was not stopped after all).
            None => {
                report.conflict(django_id, &user.username, &user.username);
                people.accounts.remove(&user.username_key);
                people.linked.remove(&user.username);
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

    #[tokio::test]
    async fn a_django_user_is_linked_only_to_the_account_imported_from_them() {
        let mut people = People::default();
        let earlier = Account {
            id: Some(7),
            name: "ada".into(),
        };
        people.accounts.insert("ada".into(), earlier.clone());
        people.created.insert(7, 1_700_000_000_000);
        let mut report = Reporter::new(true);
        let mut twin = row("Ada");
        twin.id = 3;
        let mut bob = row("bob");
        bob.id = 2;
        let rows = [row("ada"), twin, bob];
        import(None, &rows, &mut people, &mut report)
            .await
            .expect("a dry run");
        // Django's ada joined when chatweb's ada was created: an earlier import's.
        assert_eq!(people.linked.get("ada"), Some(&earlier));
        // Django's Ada is someone else, skipped as a conflict; bob is new.
        assert!(!people.linked.contains_key("Ada"));
        assert_eq!(people.linked.get("bob").map(|a| a.id), Some(None));
        assert_eq!(report.summary.users_conflicts, 2);

        // An account registered on chatweb (at another time) is not Django's ada's.
        let mut people = People::default();
        people.accounts.insert("ada".into(), earlier);
        people.created.insert(7, 1_600_000_000_000);
        import(None, &[row("ada")], &mut people, &mut report)
            .await
            .expect("a dry run");
        assert!(people.linked.is_empty());
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
