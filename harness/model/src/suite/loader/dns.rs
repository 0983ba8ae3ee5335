//! `dnsRecord` steps: the record external-dns should publish, or remove.

use super::*;

impl Validator<'_> {
    pub(super) fn dns_record(&mut self, path: &str, d: &crate::suite::model::DnsRecord, known: &BTreeSet<String>) {
        let mut names = referenced(&d.record);
        if let Some(c) = &d.content {
            names.extend(referenced(c));
        }
        self.vars(path, names, known);
        if !matches!(d.rtype.as_str(), "A" | "AAAA" | "CNAME") {
            self.error(
                &SUITE_009,
                &format!("{path}.type"),
                format!("record type `{}` is not one external-dns publishes for a target", d.rtype),
                "use A, AAAA or CNAME",
            );
        }
        if d.state == crate::suite::model::RecordState::Present && d.content.is_none() {
            self.error(
                &SUITE_009,
                path,
                "a present record needs `content`".into(),
                "give the address or CNAME target the record must hold",
            );
        }
        if let Some(m) = &d.metric
            && !m.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        {
            self.error(
                &SUITE_018,
                &format!("{path}.metric"),
                format!("metric id `{m}` has characters outside [a-z0-9._-]"),
                "use a dotted lowercase id such as `dns.time_to_visible`",
            );
        }
    }
}
