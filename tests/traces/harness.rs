//! Shared by the trace ports: print lines the way the Perl scripts do, and
//! compare the result with POE's recorded output.
//!
//! Mappings from Perl formatting, stated once:
//! - `undef` prints as `undef` (the scripts' `t()` does the same);
//! - a session prints as `S<number>`, the kernel as `kernel` (the scripts'
//!   `who()`);
//! - a call that POE reports with `1` on success and an empty return plus
//!   `$!` on failure returns `Ok(())` / `Err(e)` in roe: `ok()` prints `1`
//!   or `undef`, and `errno()` the error's POSIX name (`Error::errno`);
//! - a call that POE reports with a returned code (`0`, `EEXIST`, ...)
//!   prints through `code()`: `0` for `Ok`, the POSIX name for `Err`.

use std::cell::RefCell;

use roe::{Error, Event, SessionId, Str, Value};

thread_local! {
    static OUT: RefCell<String> = const { RefCell::new(String::new()) };
    static UNORDERED: RefCell<(Option<String>, Vec<String>)> = const { RefCell::new((None, Vec::new())) };
}

/// Something a trace line shows.
pub trait Show {
    fn show(&self) -> String;
}

impl Show for &str {
    fn show(&self) -> String {
        (*self).to_owned()
    }
}

impl Show for String {
    fn show(&self) -> String {
        self.clone()
    }
}

impl Show for Str {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for Value {
    fn show(&self) -> String {
        match self {
            Value::Session(id) => who(*id),
            other => other.to_string(),
        }
    }
}

impl Show for &Value {
    fn show(&self) -> String {
        (*self).show()
    }
}

impl Show for Event {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for SessionId {
    fn show(&self) -> String {
        who(*self)
    }
}

macro_rules! show_display {
    ($($t:ty),*) => {$(
        impl Show for $t {
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
show_display!(i64, u64, u32, i32, usize, f64);

impl<T: Show> Show for Option<T> {
    fn show(&self) -> String {
        self.as_ref().map_or_else(|| "undef".to_owned(), Show::show)
    }
}

/// POE's `who()`: `S<n>` or `kernel`.
pub fn who(id: SessionId) -> String {
    if id.is_kernel() {
        "kernel".to_owned()
    } else {
        format!("S{}", id.number())
    }
}

/// The POSIX name of an error's errno, as the scripts' `code()` prints it.
pub fn errno_name(error: &Error) -> String {
    match error.errno() {
        Some(1) => "EPERM".to_owned(),
        Some(3) => "ESRCH".to_owned(),
        Some(17) => "EEXIST".to_owned(),
        Some(22) => "EINVAL".to_owned(),
        Some(n) => n.to_string(),
        None => format!("({error})"),
    }
}

/// A returned code: `0` on success, the errno name on failure.
pub fn code<T>(result: &Result<T, Error>) -> String {
    match result {
        Ok(_) => "0".to_owned(),
        Err(e) => errno_name(e),
    }
}

/// POE's `1` or `undef` for a call that succeeds or sets `$!`.
pub fn ok<T>(result: &Result<T, Error>) -> String {
    if result.is_ok() { "1" } else { "undef" }.to_owned()
}

/// Prints one line (the scripts' `t()`).
pub fn line(parts: &[&dyn Show]) {
    flush_unordered();
    let text: Vec<String> = parts.iter().map(|p| p.show()).collect();
    OUT.with(|out| {
        let mut out = out.borrow_mut();
        out.push_str(&text.join(" "));
        out.push('\n');
    });
}

/// A line whose order within `group` is unspecified in POE (the scripts'
/// `u()`): buffered, then printed sorted with the scripts' note.
pub fn unordered(group: &str, parts: &[&dyn Show]) {
    UNORDERED.with(|u| {
        let same = u.borrow().0.as_deref() == Some(group);
        if !same {
            flush_unordered();
        }
        let mut u = u.borrow_mut();
        u.0 = Some(group.to_owned());
        u.1.push(parts.iter().map(|p| p.show()).collect::<Vec<_>>().join(" "));
    });
}

fn flush_unordered() {
    let lines = UNORDERED.with(|u| {
        let mut u = u.borrow_mut();
        u.0 = None;
        std::mem::take(&mut u.1)
    });
    if lines.is_empty() {
        return;
    }
    let mut sorted = lines;
    sorted.sort();
    OUT.with(|out| {
        let mut out = out.borrow_mut();
        for l in &sorted {
            out.push_str(l);
            out.push('\n');
        }
        if sorted.len() > 1 {
            out.push_str(&format!(
                "  (the {} lines above come from sibling sessions; their relative order is unspecified (Perl hash order), sorted here)\n",
                sorted.len()
            ));
        }
    });
}

/// Compares everything printed with POE's recorded output.
pub fn check(expected: &str) {
    flush_unordered();
    let got = OUT.with(|out| std::mem::take(&mut *out.borrow_mut()));
    if got != expected {
        panic!("trace differs from POE 1.370\n--- expected\n{expected}--- got\n{got}---");
    }
}

macro_rules! t {
    ($($x:expr),* $(,)?) => {
        $crate::harness::line(&[$(&$x as &dyn $crate::harness::Show),*])
    };
}

macro_rules! u {
    ($group:expr, $($x:expr),* $(,)?) => {
        $crate::harness::unordered($group, &[$(&$x as &dyn $crate::harness::Show),*])
    };
}

/// Milliseconds, for the scripts' fractional-second delays.
pub fn ms(n: u64) -> std::time::Duration {
    std::time::Duration::from_millis(n)
}
