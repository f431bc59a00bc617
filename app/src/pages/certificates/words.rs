//! What the certificates page says about time (expiry, the next order) and the
//! checks of the upload form: pure functions of a certificate and the time.

use crate::format;
use crate::validate;
use crate::wire::{CertSource, CertState, CertificateUpload, CertificateView};

const DAY: i64 = 86_400_000;

/// `2026-11-25` of a time.
pub fn date(ms: i64) -> String {
    format::utc_datetime(ms)[..10].to_string()
}

/// How far a time is from now: `in 29 days`, `in 5 h 3 min`, `4 d ago`.
pub fn from_now(at: i64, now: i64) -> String {
    let left = at - now;
    if left >= 2 * DAY {
        format!("in {} days", left / DAY)
    } else if left > 0 {
        format!("in {}", format::duration_words(left))
    } else {
        format::ago(now - at)
    }
}

/// When a certificate ends, in words: `in 29 days`, `ended 4 d ago`.
pub fn ends(end: i64, now: i64) -> String {
    if end > now {
        from_now(end, now)
    } else {
        format!("ended {}", format::ago(now - end))
    }
}

/// The part of a certificate's life that has passed: (used, total) in ms.
pub fn life_used(c: &CertificateView, now: i64) -> Option<(f64, f64)> {
    let (from, to) = (c.not_before_ms?, c.not_after_ms?);
    (to > from).then(|| {
        (
            ((now - from).clamp(0, to - from)) as f64,
            (to - from) as f64,
        )
    })
}

/// What Berth does next with a certificate: `next: renewal in 41 days`,
/// `retry in 4 min`; `None` for an uploaded one (its owner renews it).
pub fn next_order(c: &CertificateView, now: i64) -> Option<String> {
    if c.source == CertSource::Uploaded {
        return None;
    }
    let when = |at: i64| {
        if at > now {
            from_now(at, now)
        } else {
            "now".to_string()
        }
    };
    Some(match (c.state, c.next_attempt_ms) {
        (CertState::Valid, Some(at)) => format!("next: renewal {}", when(at)),
        (CertState::Failed | CertState::Expired, Some(at)) => format!("retry {}", when(at)),
        (CertState::Ordering | CertState::Renewing, Some(at)) if at > now => {
            format!("next try {}", when(at))
        }
        (CertState::Ordering, _) => "ordering now".into(),
        (CertState::Renewing, _) => "renewing now".into(),
        (_, None) => "no order planned".into(),
    })
}

/// The last order, in words: `last order 3 min ago`.
pub fn last_order(c: &CertificateView, now: i64) -> Option<String> {
    match c.source {
        CertSource::Uploaded => None,
        CertSource::Acme => Some(match c.last_attempt_ms {
            Some(at) => format!("last order {}", format::ago(now - at)),
            None => "not ordered yet".into(),
        }),
    }
}

/// The upload the form describes, checked before it is sent: a host name (or
/// `*.` and one) and two texts that look like PEM.
pub fn upload(
    host: &str,
    team: &str,
    certificate_pem: String,
    private_key_pem: String,
) -> Result<CertificateUpload, String> {
    let host = validate::normalise_domain(host);
    if host.is_empty() {
        return Err(
            "write the host the certificate is for, such as shop.example.com or *.example.com"
                .into(),
        );
    }
    if !validate::hostname(host.strip_prefix("*.").unwrap_or(&host)) {
        return Err(format!(
            "{host:?} is not a host name: write one such as shop.example.com, or *.example.com for a wildcard"
        ));
    }
    if !certificate_pem.contains("-----BEGIN") {
        return Err("paste the certificate chain in PEM (it starts with -----BEGIN CERTIFICATE-----), or choose its file".into());
    }
    if !private_key_pem.contains("-----BEGIN") {
        return Err("paste the private key in PEM (it starts with -----BEGIN … PRIVATE KEY-----), or choose its file".into());
    }
    Ok(CertificateUpload {
        host,
        team: (!team.is_empty()).then(|| team.to_string()),
        certificate_pem,
        private_key_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_608_000_000;

    fn cert(source: CertSource, state: CertState) -> CertificateView {
        CertificateView {
            host: "shop.example.com".into(),
            team: None,
            source,
            state,
            issuer: None,
            names: vec![],
            not_before_ms: Some(NOW - 10 * DAY),
            not_after_ms: Some(NOW + 80 * DAY),
            problem: None,
            last_attempt_ms: Some(NOW - 3 * 60_000),
            next_attempt_ms: None,
            services: vec![],
        }
    }

    #[test]
    fn times_in_words() {
        assert_eq!(date(NOW), "2026-11-25");
        assert_eq!(ends(NOW + 29 * DAY + 5, NOW), "in 29 days");
        assert_eq!(ends(NOW + 5 * 3_600_000, NOW), "in 5 h 0 min");
        assert_eq!(ends(NOW - 4 * DAY, NOW), "ended 4 d ago");
        let c = cert(CertSource::Acme, CertState::Valid);
        let (used, total) = life_used(&c, NOW).unwrap();
        assert_eq!((used / DAY as f64, total / DAY as f64), (10.0, 90.0));
    }

    #[test]
    fn next_orders() {
        let mut c = cert(CertSource::Acme, CertState::Valid);
        c.next_attempt_ms = Some(NOW + 41 * DAY + 1);
        assert_eq!(next_order(&c, NOW).unwrap(), "next: renewal in 41 days");
        assert_eq!(last_order(&c, NOW).unwrap(), "last order 3 min ago");
        c.state = CertState::Failed;
        c.next_attempt_ms = Some(NOW + 4 * 60_000);
        assert_eq!(next_order(&c, NOW).unwrap(), "retry in 4 min");
        c.next_attempt_ms = Some(NOW - 1);
        assert_eq!(next_order(&c, NOW).unwrap(), "retry now");
        c.state = CertState::Ordering;
        assert_eq!(next_order(&c, NOW).unwrap(), "ordering now");
        let up = cert(CertSource::Uploaded, CertState::Valid);
        assert_eq!((next_order(&up, NOW), last_order(&up, NOW)), (None, None));
    }

    #[test]
    fn uploads_are_checked() {
        let pem = || "-----BEGIN X-----".to_string();
        let ok = upload(" Shop.Example.com. ", "", pem(), pem()).unwrap();
        assert_eq!((ok.host.as_str(), ok.team), ("shop.example.com", None));
        assert_eq!(
            upload("*.example.com", "web", pem(), pem())
                .unwrap()
                .team
                .as_deref(),
            Some("web")
        );
        for (host, c, k, why) in [
            ("", pem(), pem(), "write the host"),
            ("shop example", pem(), pem(), "is not a host name"),
            (
                "shop.example.com",
                "x".into(),
                pem(),
                "certificate chain in PEM",
            ),
            ("shop.example.com", pem(), "".into(), "private key in PEM"),
        ] {
            let err = upload(host, "", c, k).unwrap_err();
            assert!(err.contains(why), "{host}: {err}");
        }
    }
}
