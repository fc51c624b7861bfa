//! Connection URLs as they may be shown: in logs and error messages a URL's password becomes `***`. Its
//! own module, so the settings, the store and the commands that open a database all use it without
//! importing each other.

/// `url` with any password replaced by `***`, for logs and error messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redacted("postgres://chat:s3cret@db/chat"),
            "postgres://chat:***@db/chat"
        );
        assert_eq!(
            redacted("postgres://chat@db/chat"),
            "postgres://chat@db/chat"
        );
        assert_eq!(
            redacted("redis://:pw@cache:6379"),
            "redis://:***@cache:6379"
        );
        assert_eq!(redacted("sqlite://db.sqlite3"), "sqlite://db.sqlite3");
    }
}
