//! What decoding a hostile Storable image may allocate: a small multiple of
//! the image's length, whatever counts and lengths the image announces.
//!
//! A counting global allocator records the bytes each thread asks for;
//! every image here is decoded on the test's own thread, between two
//! readings of its count.

#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

use roe_engine::Value;
use roe_ikc::storable::{Reason, thaw};

/// The system allocator, counting the bytes each thread asks for.
struct Counting;

thread_local! {
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees hold; the counter is a thread-local `Cell` with a
// const initialiser, which neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        BYTES.with(|n| n.set(n.get() + layout.size()));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        BYTES.with(|n| n.set(n.get() + new_size));
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Decodes `image`, returning the outcome and the bytes allocated meanwhile
/// (what the value itself holds included).
fn measured(image: &[u8]) -> (Result<Value, Reason>, usize) {
    let before = BYTES.with(Cell::get);
    let result = thaw(image).map_err(|err| err.reason().clone());
    let after = BYTES.with(Cell::get);
    (result, after - before)
}

/// Bytes from hex digits, spaces ignored.
fn h(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// The multiple of an image's length a decode may allocate: a value is 32
/// bytes and the smallest element one byte (`SX_UNDEF`), so a list of them
/// needs 32 bytes per byte of image; the rest is headroom for the
/// decoder's own bookkeeping.
const PER_BYTE: usize = 64;

/// What any decode may allocate besides, whatever the image's length.
const FIXED: usize = 4096;

#[test]
fn hostile_counts_and_lengths_allocate_almost_nothing() {
    let padding = "05".repeat(1000);
    let images = [
        // Two billion array elements, a thousand bytes of them.
        format!("050b 02 7fffffff {padding}"),
        // As many hash entries.
        format!("050b 03 7fffffff {padding}"),
        format!("050b 19 00 7fffffff {padding}"),
        // Counts with the top bit set, which Storable reads as negative.
        format!("050b 02 ffffffff {padding}"),
        // Strings of two gigabytes.
        format!("050b 01 7fffffff {padding}"),
        format!("050b 18 7fffffff {padding}"),
        // A hash key of two gigabytes.
        format!("050b 03 00000001 05 7fffffff {padding}"),
        // A class name of two gigabytes.
        format!("050b 11 80 7fffffff {padding}"),
        // Nested arrays, each announcing more than the image holds.
        "050b 02 00000002 04 02 7fffffff".repeat(50) + &padding,
    ];
    for hex in images {
        let image = h(&hex);
        let (result, bytes) = measured(&image);
        assert!(result.is_err(), "{hex}");
        assert!(
            bytes <= 2 * image.len() + FIXED,
            "{bytes} bytes allocated for {} bytes: {result:?}",
            image.len()
        );
    }
}

#[test]
fn counts_the_image_can_hold_cost_a_small_multiple_of_it() {
    // An array of n undefined values, announced in full: a valid image, and
    // the same cut short of its last element, so the room reserved up
    // front is never filled.
    for n in [10, 1000, 100_000] {
        let mut image = h("050b 02");
        image.extend_from_slice(&u32::try_from(n).unwrap().to_be_bytes());
        image.extend(std::iter::repeat_n(0x05, n));
        let (result, bytes) = measured(&image);
        assert_eq!(result.map(|v| v.as_list().map(<[Value]>::len)), Ok(Some(n)));
        assert!(
            bytes <= PER_BYTE * image.len() + FIXED,
            "{bytes} for {}",
            image.len()
        );
        let (result, bytes) = measured(&image[..image.len() - 1]);
        assert_eq!(result, Err(Reason::TooManyElements { count: n }));
        assert!(bytes <= FIXED, "{bytes} for {}", image.len());
    }

    // Arrays in arrays, each announcing all the image has left for it:
    // the rooms reserved share the image's bytes instead of each claiming
    // all of them.
    let depth = 100;
    let mut image = h("050b");
    let mut tail = Vec::new();
    for level in 0..depth {
        // This level's array: one nested element first, then `level + 1`
        // undefined values after the nested one closes.
        image.extend_from_slice(&h(if level == 0 { "02" } else { "04 02" }));
        image.extend_from_slice(&(u32::try_from(level).unwrap() + 2).to_be_bytes());
        tail.extend(std::iter::repeat_n(0x05, level + 1));
    }
    image.push(0x05);
    image.extend(tail.iter().rev());
    let (result, bytes) = measured(&image);
    assert!(result.is_ok(), "{result:?}");
    assert!(
        bytes <= PER_BYTE * image.len() + FIXED,
        "{bytes} for {}",
        image.len()
    );

    // Arrays in arrays, each announcing every byte after its count: each
    // would fit the image alone, and a decoder that reserved for each
    // would hold the image's length a hundred times over. The first inner
    // one is refused, as the outer one still needs those bytes.
    let mut image = h("050b");
    let mut counts = Vec::new();
    for level in 0..depth {
        image.extend_from_slice(&h(if level == 0 { "02" } else { "04 02" }));
        counts.push(image.len());
        image.extend_from_slice(&[0; 4]);
    }
    image.extend(std::iter::repeat_n(0x05, 1000));
    for at in counts {
        let left = u32::try_from(image.len() - at - 4).unwrap();
        image[at..at + 4].copy_from_slice(&left.to_be_bytes());
    }
    let (result, bytes) = measured(&image);
    assert!(
        matches!(result, Err(Reason::TooManyElements { .. })),
        "{result:?}"
    );
    assert!(
        bytes <= PER_BYTE * image.len() + FIXED,
        "{bytes} for {}",
        image.len()
    );
}

#[test]
fn shared_data_cannot_multiply_itself() {
    // [$a, $a], $a = [$b, $b], ... thirty levels deep: a billion values
    // from 300 bytes, were every copy made.
    let levels = 30;
    let mut image = h("050b 02 00000002");
    for _ in 1..levels {
        image.extend_from_slice(&h("04 02 00000002"));
    }
    image.extend_from_slice(&h("08 81 08 81"));
    for level in (1..levels).rev() {
        image.extend_from_slice(&h("04 00"));
        image.extend_from_slice(&(2 * u32::try_from(level).unwrap()).to_be_bytes());
    }
    let (result, bytes) = measured(&image);
    assert_eq!(result, Err(Reason::TooMuchSharing));
    // The copies made before the budget ran out: at most four weight units
    // per byte of image plus 4096, each a value of 32 bytes or so and its
    // share of a list.
    let budget = 4 * image.len() + 4096;
    assert!(
        bytes <= PER_BYTE * budget,
        "{bytes} bytes for {} bytes",
        image.len()
    );
}
