//! Writing the string form, and checking that what is written reads
//! back.

use std::fmt;

use super::{
    Kernel, Part, Reason, SCHEME, Specifier, SpecifierError,
    grammar::{allowed_in, is_kernel_text},
    parse::reads_alone,
};

impl Specifier {
    /// Whether [`Display`](fmt::Display) writes a string that reads back
    /// as this specifier: [`Specifier::check_string_form`] succeeds.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::Specifier;
    ///
    /// let spec = Specifier::default().with_session("echo").with_state("upper");
    /// assert!(spec.is_string_form());
    /// assert!(!spec.with_state("IKC:proxy").is_string_form());
    /// ```
    pub fn is_string_form(&self) -> bool {
        self.check_string_form().is_ok()
    }

    /// Checks that every part can be written in the string form (see [the
    /// module documentation](super)), so that the canonical string reads
    /// back as this specifier; the error names the first part that cannot.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::{Part, Reason, Specifier};
    ///
    /// let proxy = Specifier::default().with_kernel("k").with_session("s").with_state("IKC:proxy");
    /// let error = proxy.check_string_form().unwrap_err();
    /// assert_eq!(
    ///     error.reason(),
    ///     &Reason::Unwritable { part: Part::State, text: "IKC:proxy".into(), found: Some(':') }
    /// );
    /// assert!(Specifier::default().with_kernel("unix:sock:12-3").check_string_form().is_ok());
    /// ```
    pub fn check_string_form(&self) -> Result<(), SpecifierError> {
        if let Kernel::Named(name) = &self.kernel
            && !is_kernel_text(name)
        {
            return Err(unwritable(Part::Kernel, name));
        }
        let parts = [
            (Part::Session, &self.session),
            (Part::State, &self.state),
            (Part::Arg, &self.arg),
        ];
        for (part, text) in parts {
            if let Some(text) = text
                && (text.is_empty() || !text.bytes().all(allowed_in(part)))
            {
                return Err(unwritable(part, text));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Specifier {
    /// Writes the canonical string form: IKC's own way of writing a
    /// specifier (`poe://kernel/session/state`, leaving out absent parts),
    /// with `?arg` after it, except in two cases where that would read
    /// back otherwise: a kernel and a state without a session are written
    /// `//kernel/state`, and a kernel alone whose name would read as a
    /// shorter kernel and a state (`unix:1-2` as `unix:1` and `-2`) gets a
    /// trailing `/`.
    ///
    /// A specifier that is not [in string form](Specifier::is_string_form)
    /// is written the same way with its text as it is, for messages; it
    /// does not read back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kernel = self.kernel.as_str();
        let session = self.session.as_deref().unwrap_or("");
        let state = self.state.as_deref().unwrap_or("");
        if !kernel.is_empty() && session.is_empty() && !state.is_empty() {
            // `poe://kernel/state` reads `state` as a session: only IKC's
            // form without `poe:` holds a kernel and a state alone.
            write!(f, "//{kernel}/{state}")?;
        } else {
            f.write_str(SCHEME)?;
            if !kernel.is_empty() {
                write!(f, "//{kernel}")?;
            }
            if !session.is_empty() {
                write!(f, "/{session}")?;
                if !state.is_empty() {
                    write!(f, "/{state}")?;
                }
            } else if !state.is_empty() {
                f.write_str(state)?;
            } else if kernel.contains(':') && is_kernel_text(kernel) && !reads_alone(kernel) {
                f.write_str("/")?;
            }
        }
        if let Some(arg) = self.arg.as_deref().filter(|arg| !arg.is_empty()) {
            write!(f, "?{arg}")?;
        }
        Ok(())
    }
}

/// The error for a part the string form cannot write.
pub(super) fn unwritable(part: Part, text: &str) -> SpecifierError {
    let allowed = allowed_in(part);
    let found = text.chars().find(|&c| !u8::try_from(c).is_ok_and(allowed));
    SpecifierError {
        reason: Reason::Unwritable {
            part,
            text: text.to_owned(),
            found,
        },
        position: None,
    }
}
