//! Everything about one probe: the agent command line a suite action
//! becomes, and the predicates its JSON report is checked with.

pub mod argv;
pub mod predicate;
