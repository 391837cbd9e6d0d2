//! IKC0's `SETUP` line: its grammar, read and written.
//!
//! ```text
//! setup  = "SETUP " field *( ";" field )
//! field  = "KERNEL=" name *( "," name )     ; one or more, in order
//!        / "FREEZER=" package *( "," package )
//!        / "PID=" 1*DIGIT
//! ```
//!
//! As Perl splits them, empty fields at the end of the line and empty
//! names at the end of a list are dropped; an empty field anywhere else is
//! an unknown one. Perl's own reading has two corners roe does not keep:
//! it finds `KERNEL=`, `FREEZER=` and `PID=` anywhere in a field (so
//! `XKERNEL=a` is read as `KERNEL=a`) and takes the digits that start a
//! `PID=` (`PID=12x` as 12); roe reads a field only by its start, and a
//! PID only when it is all digits that fit 32 bits. roe also holds kernel
//! names to its rules (see [`check_name`]), which Perl does not check in
//! IKC0.

use crate::native::{MAX_NAMES, check_name};

/// A `SETUP` line's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Setup {
    /// The sender's kernel names, its unique ID first.
    pub kernels: Vec<String>,
    /// The serializers it offers (a client) or chose (a server).
    pub freezers: Vec<String>,
    /// Its process ID, when it gave one.
    pub pid: Option<u32>,
}

/// The start of every `SETUP` line.
pub(super) const SETUP: &[u8] = b"SETUP ";

/// Reads a `SETUP` line (without its terminator); `Err` says why it is
/// bad.
pub(super) fn parse(line: &[u8]) -> Result<Setup, &'static str> {
    let fields = line
        .strip_prefix(SETUP)
        .ok_or("it does not start with SETUP")?;
    if fields.is_empty() {
        return Err("it has no fields");
    }
    let fields = std::str::from_utf8(fields).map_err(|_| "it is not text")?;
    let mut setup = Setup {
        kernels: Vec::new(),
        freezers: Vec::new(),
        pid: None,
    };
    for field in perl_split(fields, ';') {
        if let Some(names) = non_empty_value(field, "KERNEL=") {
            for name in perl_split(names, ',') {
                check_name("kernel name", name).map_err(|_| "a kernel name breaks roe's rules")?;
                if setup.kernels.len() == MAX_NAMES {
                    return Err("it has too many kernel names");
                }
                setup.kernels.push(name.to_owned());
            }
        } else if let Some(packages) = non_empty_value(field, "FREEZER=") {
            for package in perl_split(packages, ',') {
                if setup.freezers.len() == MAX_NAMES {
                    return Err("it offers too many serializers");
                }
                setup.freezers.push(package.to_owned());
            }
        } else if let Some(pid) = non_empty_value(field, "PID=") {
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                return Err("its PID is not a number");
            }
            setup.pid = Some(pid.parse().map_err(|_| "its PID is too large")?);
        } else {
            return Err("it has an unknown field");
        }
    }
    if setup.kernels.is_empty() {
        return Err("it has no KERNEL");
    }
    Ok(setup)
}

/// Writes a `SETUP` line, CRLF included.
pub(super) fn line<'a>(
    kernels: impl IntoIterator<Item = &'a str>,
    freezer: &str,
    pid: u32,
) -> Vec<u8> {
    let kernels: Vec<&str> = kernels.into_iter().collect();
    format!(
        "SETUP KERNEL={};FREEZER={freezer};PID={pid}\r\n",
        kernels.join(",")
    )
    .into_bytes()
}

/// The value of `field` after `key`, when it starts so and the value is
/// not empty (Perl's `KEY=(.+)`).
fn non_empty_value<'a>(field: &'a str, key: &str) -> Option<&'a str> {
    field.strip_prefix(key).filter(|value| !value.is_empty())
}

/// Perl's `split`: the pieces between separators, empty ones at the end
/// dropped.
fn perl_split(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let trimmed = text.trim_end_matches(separator);
    trimmed
        .split(separator)
        .take(if trimmed.is_empty() { 0 } else { usize::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clientlite_line_reads_and_writes_back() {
        let text = b"SETUP KERNEL=LiteClient;FREEZER=Storable;PID=2885";
        let setup = parse(text).unwrap();
        assert_eq!(setup.kernels, ["LiteClient"]);
        assert_eq!(setup.freezers, ["Storable"]);
        assert_eq!(setup.pid, Some(2885));
        let mut written = text.to_vec();
        written.extend_from_slice(b"\r\n");
        assert_eq!(line(["LiteClient"], "Storable", 2885), written);
    }

    #[test]
    fn lists_and_fields_accumulate_and_trailing_empties_go() {
        let setup =
            parse(b"SETUP KERNEL=vm-1,Poe,127.0.0.1:80,;FREEZER=Storable,FreezeThaw;KERNEL=more;;")
                .unwrap();
        assert_eq!(setup.kernels, ["vm-1", "Poe", "127.0.0.1:80", "more"]);
        assert_eq!(setup.freezers, ["Storable", "FreezeThaw"]);
        assert_eq!(setup.pid, None);
    }

    #[test]
    fn bad_lines_say_why() {
        for (text, why) in [
            (&b"SETUP "[..], "it has no fields"),
            (b"SETUP FREEZER=Storable", "it has no KERNEL"),
            (b"SETUP KERNEL=", "it has an unknown field"),
            (b"SETUP ;KERNEL=a", "it has an unknown field"),
            (b"SETUP KERNEL=a;VERSION=2", "it has an unknown field"),
            (b"SETUP XKERNEL=a", "it has an unknown field"),
            (b"SETUP KERNEL=a,,b", "a kernel name breaks roe's rules"),
            (b"SETUP KERNEL=a b", "a kernel name breaks roe's rules"),
            (b"SETUP KERNEL=a;PID=12x", "its PID is not a number"),
            (b"SETUP KERNEL=a;PID=99999999999", "its PID is too large"),
            (b"SETUP KERNEL=\xe9", "it is not text"),
            (b"HELLO", "it does not start with SETUP"),
        ] {
            assert_eq!(parse(text), Err(why), "{}", String::from_utf8_lossy(text));
        }
        let many: Vec<String> = (0..=MAX_NAMES).map(|n| format!("k{n}")).collect();
        let text = format!("SETUP KERNEL={}", many.join(","));
        assert_eq!(parse(text.as_bytes()), Err("it has too many kernel names"));
    }

    #[test]
    fn perl_split_drops_only_trailing_empties() {
        let split = |text| perl_split(text, ',').collect::<Vec<_>>();
        assert_eq!(split("a,b"), ["a", "b"]);
        assert_eq!(split(",a,,b,,"), ["", "a", "", "b"]);
        assert!(split(",,").is_empty());
        assert!(split("").is_empty());
    }
}
