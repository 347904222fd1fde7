//! Things found by name: the pipelines a binary knows ([`crate::Registry`]) and the faults it
//! can inject ([`crate::FaultCatalog`]). An unknown name is bad input that lists the known ones.

use crate::error::{HarnessError, Result};
use std::sync::Arc;

/// What a [`Catalogue`] holds.
pub trait Named {
    /// What one is called in messages: `pipeline`, `fault`.
    const KIND: &'static str;
    /// Names accepted besides the entries, which the caller handles (`none` for faults).
    const ALSO: &'static [&'static str] = &[];
    /// Its name.
    fn entry_name(&self) -> &'static str;
}

/// A list of entries looked up by name, in the order they were added.
#[derive(Debug)]
pub struct Catalogue<T: ?Sized> {
    entries: Vec<Arc<T>>,
}

impl<T: ?Sized> Default for Catalogue<T> {
    fn default() -> Self {
        Catalogue { entries: Vec::new() }
    }
}

impl<T: ?Sized> Clone for Catalogue<T> {
    fn clone(&self) -> Self {
        Catalogue { entries: self.entries.clone() }
    }
}

impl<T: ?Sized + Named> Catalogue<T> {
    /// An empty catalogue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry.
    pub fn with(mut self, entry: Arc<T>) -> Self {
        self.entries.push(entry);
        self
    }

    /// Looks an entry up; an unknown name is bad input naming the known ones.
    pub fn get(&self, name: &str) -> Result<Arc<T>> {
        self.entries.iter().find(|e| e.entry_name() == name).cloned().ok_or_else(|| {
            let also = if T::ALSO.is_empty() { String::new() } else { format!(" (or {})", T::ALSO.join(", or ")) };
            HarnessError::bad_input(
                format!("unknown {} {name:?}", T::KIND),
                format!("choose one of: {}{also}", self.names().join(", ")),
            )
        })
    }

    /// Every entry's name.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.entry_name()).collect()
    }

    /// Every entry.
    pub fn all(&self) -> &[Arc<T>] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Thing(&'static str);
    impl Named for Thing {
        const KIND: &'static str = "thing";
        const ALSO: &'static [&'static str] = &["none"];
        fn entry_name(&self) -> &'static str {
            self.0
        }
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let c = Catalogue::new().with(Arc::new(Thing("a"))).with(Arc::new(Thing("b")));
        assert_eq!(c.get("b").unwrap().0, "b");
        let e = c.get("c").unwrap_err().to_string();
        assert!(e.contains("unknown thing \"c\""), "{e}");
        assert!(e.contains("choose one of: a, b (or none)"), "{e}");
    }
}
