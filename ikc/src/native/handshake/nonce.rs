//! Nonces from the OS.

use super::HandshakeError;

/// 16 random bytes from the OS, for a handshake's nonce.
///
/// # Errors
///
/// [`HandshakeError::Randomness`] when the OS has none to give.
///
/// # Examples
///
/// ```
/// let a = roe_ikc::native::random_nonce()?;
/// let b = roe_ikc::native::random_nonce()?;
/// assert_ne!(a, b);
/// # Ok::<(), roe_ikc::native::HandshakeError>(())
/// ```
pub fn random_nonce() -> Result<[u8; 16], HandshakeError> {
    let mut nonce = [0u8; 16];
    let mut filled = 0;
    while filled < nonce.len() {
        match rustix::rand::getrandom(&mut nonce[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(0) => {
                return Err(HandshakeError::Randomness {
                    errno: rustix::io::Errno::IO.raw_os_error(),
                });
            }
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                return Err(HandshakeError::Randomness {
                    errno: e.raw_os_error(),
                });
            }
        }
    }
    Ok(nonce)
}
