//! Semantic profile rules (`PROF-NNN`).

use crate::diag::Finding;
use crate::yaml::Node;

use super::load::Loaded;

/// One entry of the rule catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub hint: &'static str,
}

pub fn rules() -> &'static [RuleInfo] {
    &[]
}

pub fn validate(_loaded: &Loaded) -> Vec<Finding> {
    Vec::new()
}

pub(crate) fn inline_secrets(_file: &str, _root: &Node) -> Vec<Finding> {
    Vec::new()
}
