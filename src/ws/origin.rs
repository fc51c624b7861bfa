//! Origin checking, after Django's `AllowedHostsOriginValidator`: the host of the handshake's `Origin` must
//! match an allowed host (`*` matches any, `.example.com` matches the domain and its subdomains).

/// Whether `origin` (`scheme://host[:port]`) names one of `allowed` (lowercase host patterns).
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let Some(host) = origin_host(origin) else {
        return false;
    };
    allowed.iter().any(|pattern| host_matches(&host, pattern))
}

fn origin_host(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = rest.split('/').next()?;
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn host_matches(host: &str, pattern: &str) -> bool {
    let pattern = pattern.trim_start_matches('[').trim_end_matches(']');
    pattern == "*"
        || host == pattern
        || pattern
            .strip_prefix('.')
            .is_some_and(|domain| host == domain || host.ends_with(pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        ["localhost", "127.0.0.1", "::1", ".example.com"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn local_and_listed_origins_pass() {
        for origin in [
            "http://localhost:8000",
            "https://127.0.0.1",
            "http://[::1]:8000",
            "http://LOCALHOST:1",
            "https://example.com",
            "https://chat.example.com:443",
        ] {
            assert!(origin_allowed(origin, &allowed()), "{origin}");
        }
    }

    #[test]
    fn foreign_and_malformed_origins_fail() {
        for origin in [
            "http://evil.com",
            "http://localhost.evil.com",
            "http://notexample.com",
            "null",
            "",
            "file://localhost",
            "http://",
        ] {
            assert!(!origin_allowed(origin, &allowed()), "{origin}");
        }
        assert!(origin_allowed("http://evil.com", &["*".into()]));
    }
}
