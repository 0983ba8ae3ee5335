//! Everything about one probe on the engine's side, so a new probe kind
//! touches this module (plus its model type and the agent) and nothing in
//! the step dispatch: the action rendered with the case's variables
//! ([`render`]), the agent command line it becomes ([`argv`]), what its JSON
//! report means for the step ([`outcome`]) and the predicates asserts check
//! reports with ([`predicate`]).

pub mod argv;
pub mod outcome;
pub mod predicate;
pub mod render;
