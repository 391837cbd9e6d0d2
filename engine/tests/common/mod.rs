//! Shared by the engine's integration tests.

use std::{cell::RefCell, rc::Rc};

/// A log the handlers of one kernel append to, read after it ran.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn push(&self, line: impl Into<String>) {
        self.0.borrow_mut().push(line.into());
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}
