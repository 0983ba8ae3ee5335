//! `assert` steps and the predicates they (and `wait`) check.

use super::*;

impl Validator<'_> {
    pub(super) fn assert(&mut self, path: &str, a: &Assert, known: &BTreeSet<String>, probes: &BTreeSet<String>) {
        match (&a.target, &a.probe) {
            (Some(t), None) => self.refs(path, t, known),
            (None, Some(p)) => {
                if !probes.contains(p) {
                    self.error(
                        &SUITE_013,
                        &format!("{path}.probe"),
                        format!("no earlier probe or exec step in this case is named `{p}`"),
                        "name the probe or exec step (`name: ...`) before asserting on its report",
                    );
                }
            }
            _ => self.error(
                &SUITE_009,
                path,
                "assert needs exactly one of `ref` or `probe`".into(),
                "assert on an object (`ref:`) or on an earlier probe's result (`probe: <name>`)",
            ),
        }
        if a.that.is_empty() {
            self.error(
                &SUITE_009,
                &format!("{path}.that"),
                "assert has no predicates".into(),
                "add at least one `- path: ... equals: ...` under `that:`",
            );
        }
        for (i, p) in a.that.iter().enumerate() {
            self.predicate(&format!("{path}.that[{i}]"), p, known);
            let Some(other) = &p.same_as else { continue };
            if a.target.is_some() {
                self.error(
                    &SUITE_009,
                    &format!("{path}.that[{i}].sameAs"),
                    "`sameAs` compares two reports; this assert reads an object".into(),
                    "use `sameAs` in `assert: {probe: <name>}` against another earlier probe",
                );
            } else if !probes.contains(other) || a.probe.as_ref() == Some(other) {
                self.error(
                    &SUITE_013,
                    &format!("{path}.that[{i}].sameAs"),
                    format!("`sameAs: {other}` names no other earlier probe or exec step of this case"),
                    "name another probe step (`name: ...`) that runs before this assert",
                );
            }
        }
    }

    pub(super) fn predicate(&mut self, path: &str, p: &Predicate, known: &BTreeSet<String>) {
        if let Some(r) = &p.range {
            for (key, b) in [("min", &r.min), ("max", &r.max)] {
                let Some(b) = b else { continue };
                let vars = referenced(&b.0);
                if vars.is_empty() {
                    if let Err(e) = b.value() {
                        self.error(
                            &SUITE_011,
                            &format!("{path}.range.{key}"),
                            e,
                            "write a number, or a `{{variable}}` the case declares",
                        );
                    }
                } else {
                    self.vars(&format!("{path}.range.{key}"), vars, known);
                }
            }
        }
        if let Some(c) = &p.count {
            for (key, b) in [("equals", &c.equals), ("min", &c.min), ("max", &c.max)] {
                let Some(b) = b else { continue };
                let vars = referenced(&b.0);
                if vars.is_empty() {
                    if let Err(e) = b.count() {
                        self.error(
                            &SUITE_011,
                            &format!("{path}.count.{key}"),
                            e,
                            "write a whole number, or a `{{variable}}` holding one (e.g. `\"{{nodeCount}}\"`)",
                        );
                    }
                } else {
                    self.vars(&format!("{path}.count.{key}"), vars, known);
                }
            }
        }
        for (key, v) in [("equals", &p.equals), ("contains", &p.contains)] {
            if let Some(v) = v {
                let mut names = Vec::new();
                referenced_json(v, &mut names);
                self.vars(&format!("{path}.{key}"), names, known);
            }
        }
        if let Err(e) = jsonpath_rust::parser::parse_json_path(&p.path) {
            self.error(
                &SUITE_010,
                &format!("{path}.path"),
                format!("invalid JSONPath `{}`: {e}", p.path),
                "write an RFC 9535 path starting with `$`, e.g. `$.data['routing-mode']`",
            );
        }
        let n = [
            p.equals.is_some(),
            p.contains.is_some(),
            p.matches.is_some(),
            p.exists == Some(true),
            p.absent == Some(true),
            p.in_cidr.is_some(),
            p.not_in_cidr.is_some(),
            p.count.is_some(),
            p.range.is_some(),
            p.same_as.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if n != 1 {
            self.error(
                &SUITE_009,
                path,
                format!("predicate needs exactly one comparison, found {n}"),
                "use one of equals, contains, matches, exists: true, absent: true, inCidr, notInCidr, count, range, sameAs",
            );
        }
        if let Some(re) = &p.matches
            && let Err(e) = regex::Regex::new(re)
        {
            self.error(
                &SUITE_011,
                &format!("{path}.matches"),
                // regex draws the pattern and a caret over several lines;
                // a finding is one line, located at the `matches:` value.
                format!("invalid regex: {}", regex_error_line(&e)),
                "fix the regular expression (Rust regex syntax)",
            );
        }
        for (field, c) in [("inCidr", &p.in_cidr), ("notInCidr", &p.not_in_cidr)] {
            let Some(c) = c else { continue };
            if c.parse::<ipnet::IpNet>().is_ok() {
                continue;
            }
            self.error(
                &SUITE_011,
                &format!("{path}.{field}"),
                format!("`{c}` is not a CIDR"),
                "write a prefix such as `10.244.0.0/16`",
            );
        }
        if let Some(c) = &p.count
            && c.equals.is_none()
            && c.min.is_none()
            && c.max.is_none()
        {
            self.error(
                &SUITE_009,
                &format!("{path}.count"),
                "count needs `equals`, `min` or `max`".into(),
                "e.g. `count: {min: 1}`",
            );
        }
    }
}

/// The one-line cause of a regex syntax error (`error: unclosed group`).
fn regex_error_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.lines().map(str::trim).collect::<Vec<_>>().join(" "))
}
