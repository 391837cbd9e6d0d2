//! `Args`: an event's positional arguments (POE's `ARG0`, `ARG1`, ...).

use std::{fmt, ops::Index};

use smallvec::SmallVec;

use super::Value;

/// Arguments kept inline; more spill to the heap.
const INLINE_ARGS: usize = 3;

/// An event's arguments, `ARG0` first.
///
/// Up to three arguments are stored inline, so posting a few scalars does not
/// allocate. Build them from a tuple of values (`("x", 1)`), an array, a
/// `Vec<Value>` or `()` for none.
///
/// # Examples
///
/// ```
/// use roe_engine::{Args, Value};
///
/// let mut args = Args::from(("login", 42, true));
/// assert_eq!(args[0].as_str(), Some("login"));
/// assert_eq!(args.get(1).as_int(), Some(42));
/// assert!(args.get(7).is_undef()); // past the end, as Perl's $_[ARG7]
/// args.push(1.5);
/// assert_eq!(args.len(), 4);
/// assert_eq!(args.take(0), Value::from("login")); // leaves undef behind
/// assert!(args[0].is_undef());
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Args(SmallVec<[Value; INLINE_ARGS]>);

impl Args {
    /// No arguments.
    pub fn new() -> Args {
        Args(SmallVec::new())
    }

    /// Splits off the arguments from `at` on (none past the end), as
    /// Perl's `@_[ARGn..$#_]`.
    pub fn split_off(&mut self, at: usize) -> Args {
        let at = at.min(self.0.len());
        Args(self.0.drain(at..).collect())
    }

    /// The argument at `index`, or `undef` past the end (as Perl's `$_[ARGn]`).
    pub fn get(&self, index: usize) -> &Value {
        const UNDEF: &Value = &Value::Undef;
        self.0.get(index).unwrap_or(UNDEF)
    }

    /// Takes the argument at `index`, leaving `undef` in its place.
    pub fn take(&mut self, index: usize) -> Value {
        self.0
            .get_mut(index)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// How many arguments there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes every argument.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Appends one.
    pub fn push(&mut self, value: impl Into<Value>) {
        self.0.push(value.into());
    }

    /// Appends all of `more`.
    pub fn extend(&mut self, more: impl IntoIterator<Item = Value>) {
        self.0.extend(more);
    }

    /// The arguments in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Value> {
        self.0.iter()
    }

    /// The arguments as a slice.
    pub fn as_slice(&self) -> &[Value] {
        &self.0
    }

    /// The arguments as a `Vec` (for a list value).
    pub fn into_vec(self) -> Vec<Value> {
        self.0.into_vec()
    }

    /// Whether every argument can leave the process.
    pub fn is_portable(&self) -> bool {
        self.0.iter().all(Value::is_portable)
    }
}

impl Index<usize> for Args {
    type Output = Value;
    /// Like [`Args::get`]: `undef` past the end, never a panic.
    fn index(&self, index: usize) -> &Value {
        self.get(index)
    }
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl IntoIterator for Args {
    type Item = Value;
    type IntoIter = smallvec::IntoIter<[Value; INLINE_ARGS]>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Args {
    type Item = &'a Value;
    type IntoIter = std::slice::Iter<'a, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromIterator<Value> for Args {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Args {
        Args(iter.into_iter().collect())
    }
}

impl From<Vec<Value>> for Args {
    fn from(values: Vec<Value>) -> Args {
        Args(SmallVec::from_vec(values))
    }
}

impl<const N: usize> From<[Value; N]> for Args {
    fn from(values: [Value; N]) -> Args {
        values.into_iter().collect()
    }
}

impl From<()> for Args {
    fn from((): ()) -> Args {
        Args::new()
    }
}

macro_rules! tuple_args {
    ($($name:ident),+) => {
        impl<$($name: Into<Value>),+> From<($($name,)+)> for Args {
            #[allow(non_snake_case)]
            fn from(($($name,)+): ($($name,)+)) -> Args {
                let mut args = Args::new();
                $(args.0.push($name.into());)+
                args
            }
        }
    };
}
tuple_args!(A);
tuple_args!(A, B);
tuple_args!(A, B, C);
tuple_args!(A, B, C, D);
tuple_args!(A, B, C, D, E);
tuple_args!(A, B, C, D, E, F);
tuple_args!(A, B, C, D, E, F, G);
tuple_args!(A, B, C, D, E, F, G, I);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_become_positional_args() {
        let args = Args::from(("x", 2, 3.5));
        assert_eq!(args.len(), 3);
        assert_eq!(args[0].as_str(), Some("x"));
        assert_eq!(args[1].as_int(), Some(2));
        assert!(args[7].is_undef());
    }

    #[test]
    fn take_leaves_undef() {
        let mut args = Args::from((1, 2));
        assert_eq!(args.take(1), Value::Int(2));
        assert!(args[1].is_undef());
        assert!(args.take(9).is_undef());
    }
}
