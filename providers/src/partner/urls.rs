//! The URLs a manifest or a federation registration may name.

/// Hosts that are this machine.
fn is_loopback_host(host: Option<&str>) -> bool {
    matches!(host, Some("127.0.0.1" | "localhost" | "[::1]"))
}

/// Checks a URL for the manifest: `https`, or `http` to a loopback host only (a test or a
/// provider beside the broker); no credentials in it, no fragment.
pub fn check_url(field: &str, raw: &str, errors: &mut Vec<String>) {
    let url = match reqwest::Url::parse(raw) {
        Ok(u) => u,
        Err(e) => {
            errors.push(format!("{field}: {raw:?} is not a URL ({e})"));
            return;
        }
    };
    let loopback = is_loopback_host(url.host_str());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => errors.push(format!("{field}: http is allowed for loopback hosts only; use https")),
        other => errors.push(format!("{field}: scheme {other} is not allowed; use https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        errors.push(format!("{field}: must not carry credentials"));
    }
    if url.fragment().is_some() {
        errors.push(format!("{field}: must not have a #fragment"));
    }
}

/// Whether a URL points at this host (the manifest rules allow that only in development).
pub fn is_loopback(raw: &str) -> bool {
    reqwest::Url::parse(raw)
        .map(|u| is_loopback_host(u.host_str()))
        .unwrap_or(false)
}
