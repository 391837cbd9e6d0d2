//! HMAC-SHA-256 (RFC 2104) and the handshake's key proofs.
//!
//! HMAC is a few lines over a hash; writing it here on top of the `sha2`
//! crate keeps the dependencies to SHA-256 itself (the RustCrypto `hmac`
//! crate would add its own trait plumbing for the same result). The RFC
//! 4231 test vectors check it.

use sha2::{Digest, Sha256};

/// SHA-256's block size, which HMAC pads the key to.
const BLOCK: usize = 64;

/// HMAC-SHA-256 of `key` over the concatenation of `message`'s parts.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::mac::hmac_sha256;
///
/// // RFC 4231, test case 2.
/// let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
/// assert_eq!(mac[..4], [0x5b, 0xdc, 0xc1, 0x46]);
/// ```
pub fn hmac_sha256(key: &[u8], message: &[&[u8]]) -> [u8; 32] {
    // A key longer than a block is hashed first; a shorter one is padded
    // with zeros (RFC 2104, section 2).
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in message {
        inner.update(part);
    }
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// Whether two MACs are equal, taking the same time wherever they differ
/// (an early exit would tell a forger how many leading bytes are right).
///
/// # Examples
///
/// ```
/// use roe_ikc::native::mac::constant_time_eq;
///
/// assert!(constant_time_eq(&[7; 32], &[7; 32]));
/// assert!(!constant_time_eq(&[7; 32], &[8; 32]));
/// ```
pub fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a
        .iter()
        .zip(b)
        // black_box keeps the compiler from turning the fold into a
        // comparison that stops at the first difference.
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    difference == 0
}

/// Label of the server's proof, so it can never pass for a client's.
const SERVER_LABEL: &[u8] = b"roe-ikc server";
/// Label of the client's proof.
const CLIENT_LABEL: &[u8] = b"roe-ikc client";

/// The server's proof that it holds `key`:
/// HMAC(key, `"roe-ikc server"` ‖ client nonce ‖ server nonce).
///
/// # Examples
///
/// ```
/// use roe_ikc::native::mac::{client_proof, server_proof};
///
/// let (c, s) = ([1; 16], [2; 16]);
/// assert_ne!(server_proof(b"key", &c, &s), client_proof(b"key", &c, &s));
/// assert_ne!(server_proof(b"key", &c, &s), server_proof(b"kex", &c, &s));
/// ```
pub fn server_proof(key: &[u8], client_nonce: &[u8; 16], server_nonce: &[u8; 16]) -> [u8; 32] {
    hmac_sha256(key, &[SERVER_LABEL, client_nonce, server_nonce])
}

/// The client's proof that it holds `key`:
/// HMAC(key, `"roe-ikc client"` ‖ server nonce ‖ client nonce).
///
/// # Examples
///
/// ```
/// use roe_ikc::native::mac::{client_proof, hmac_sha256};
///
/// let (c, s) = ([1; 16], [2; 16]);
/// assert_eq!(client_proof(b"key", &c, &s), hmac_sha256(b"key", &[b"roe-ikc client", &s, &c]));
/// ```
pub fn client_proof(key: &[u8], client_nonce: &[u8; 16], server_nonce: &[u8; 16]) -> [u8; 32] {
    hmac_sha256(key, &[CLIENT_LABEL, server_nonce, client_nonce])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc_4231_test_vectors() {
        let long_key = [0xaa; 131];
        let cases: [(&[u8], &[u8], &str); 7] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 20],
                &[0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                &hex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                &[0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            // Case 5 gives only the first 128 bits.
            (
                &[0x0c; 20],
                b"Test With Truncation",
                "a3b6167473100ee06e0c796c2955552b",
            ),
            (
                &long_key,
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                &long_key,
                b"This is a test using a larger than block-size key and a larger than \
                  block-size data. The key needs to be hashed before being used by the \
                  HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (i, (key, data, expected)) in cases.iter().enumerate() {
            let expected = hex(expected);
            let mac = hmac_sha256(key, &[data]);
            assert_eq!(&mac[..expected.len()], &expected[..], "test case {}", i + 1);
            // The message may come in parts.
            let (a, b) = data.split_at(data.len() / 3);
            assert_eq!(hmac_sha256(key, &[a, &[], b]), mac);
        }
    }

    #[test]
    fn a_key_of_exactly_one_block_is_used_as_it_is() {
        // 64 bytes: not hashed (a 65-byte key is).
        let key = [0x42; 64];
        assert_ne!(
            hmac_sha256(&key, &[b"m"]),
            hmac_sha256(&Sha256::digest(key), &[b"m"])
        );
        let longer = [0x42; 65];
        assert_eq!(
            hmac_sha256(&longer, &[b"m"]),
            hmac_sha256(&Sha256::digest(longer), &[b"m"])
        );
    }

    #[test]
    fn proofs_bind_both_nonces_in_their_order() {
        let (c, s) = ([1; 16], [2; 16]);
        let server = server_proof(b"k", &c, &s);
        assert_eq!(server, hmac_sha256(b"k", &[b"roe-ikc server", &c, &s]));
        assert_eq!(
            client_proof(b"k", &c, &s),
            hmac_sha256(b"k", &[b"roe-ikc client", &s, &c])
        );
        assert_ne!(server, server_proof(b"k", &s, &c));
        assert!(!constant_time_eq(&server, &client_proof(b"k", &c, &s)));
    }
}
