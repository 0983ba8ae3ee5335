//! URL pieces the loader and the probe rendering both need.

/// Host and port an `http://` or `https://` URL connects to (default ports
/// 80 and 443; an IPv6 literal keeps its brackets), or `None` when the URL
/// has another scheme or no host.
pub fn url_host_port(url: &str) -> Option<(String, u16)> {
    let (rest, default_port) = if let Some(r) = url.strip_prefix("https://") {
        (r, 443)
    } else if let Some(r) = url.strip_prefix("http://") {
        (r, 80)
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // userinfo is never used by the agent, but must not be taken for the host.
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let end = after.find(']')?;
        let host = &authority[..end + 2];
        match &after[end + 1..] {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_host_port_handles_defaults_ports_and_ipv6() {
        assert_eq!(url_host_port("https://a.test"), Some(("a.test".into(), 443)));
        assert_eq!(url_host_port("http://a.test/p"), Some(("a.test".into(), 80)));
        assert_eq!(url_host_port("http://u@a.test:81/p"), Some(("a.test".into(), 81)));
        assert_eq!(url_host_port("https://[2001:db8::1]:8443/"), Some(("[2001:db8::1]".into(), 8443)));
        assert_eq!(url_host_port("https://[2001:db8::1]/"), Some(("[2001:db8::1]".into(), 443)));
        assert_eq!(url_host_port("ftp://a.test"), None);
        assert_eq!(url_host_port("http:///x"), None);
        assert_eq!(url_host_port("http://a.test:http/"), None);
    }
}
